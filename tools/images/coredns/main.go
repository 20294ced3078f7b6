// Command coredns is CoreDNS with only the plugins slipway's cluster DNS needs.
//
// Upstream's main package (github.com/coredns/coredns) blank-imports core/plugin, which pulls in
// every plugin (cloud SDKs, tracing, ...) and takes about 10 minutes to build cold on 2 cores.
// This is the documented way to build CoreDNS with a custom plugin set: blank-import the wanted
// plugins and call coremain.Run(). The execution order of plugins does not come from this list:
// it is dnsserver.Directives (core/dnsserver/zdirectives.go, generated from upstream plugin.cfg),
// which is compiled in with coremain and only needs changing for out-of-tree plugins. A directive
// of that list that is not compiled in still parses, and fails at start-up: "no action found for
// directive 'forward' with server type 'dns'". metadata and transfer come in through kubernetes.
//
// forward is left out: the cluster is offline, nothing is sent upstream. bind is for tests on
// loopback; log for debugging (add it to a server block); metrics serves `prometheus :9153`.
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
