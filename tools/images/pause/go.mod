module slipway.local/images/pause

go 1.26
