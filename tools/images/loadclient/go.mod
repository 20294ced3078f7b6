module slipway.local/images/loadclient

go 1.25
