// Command netpol enforces networking.k8s.io/v1 NetworkPolicies on the real node: the policy engine
// of sigs.k8s.io/kube-network-policies (the agent kind ships), unchanged, plus the one thing this
// kernel needs that upstream's agent cannot do.
//
// Upstream diverts the first packet of each connection of the node's policy-selected pods to
// userspace with an nftables `queue` expression, evaluates the policies there and answers with a
// verdict on NFQUEUE. This machine's kernel has NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE) but not
// the nftables queue expression (CONFIG_NFT_QUEUE is not set, and no module can be loaded):
// upstream's rule transaction is refused ("netlink receive: no such file or directory"), no rule
// exists, and every packet passes — the policies are silently not enforced. The xtables NFQUEUE
// target is built in (CONFIG_NETFILTER_XT_TARGET_NFQUEUE) and nftables reaches it through
// nft_compat (CONFIG_NFT_COMPAT): that is what iptables-nft's `-j NFQUEUE` uses.
//
// So this program runs upstream's controller as upstream's cmd/main.go does (same flags, same
// informers, same packet evaluation, same queue) and, beside it, keeps its own table (compatTable)
// with upstream's rules, the queue expression replaced by the xt NFQUEUE target. Upstream's own
// rule sync still runs and fails on each policy or pod change (logged, harmless: its transaction is
// atomic, so it never touches this table). On a kernel with CONFIG_NFT_QUEUE, run it with
// --compat-queue=false and it is upstream's agent (with both, each packet is evaluated twice).
//
// Other departures from upstream's v0.8.0 cmd/main.go:
//   - SIGTERM (what the kubelet sends) stops the agent cleanly like SIGINT, removing its rules.
//     Upstream handles SIGINT only, so a pod stop left rules that queue to nobody: a blackhole for
//     the selected pods unless --fail-open.
//   - The process exits when the controller stops on an error (the queue cannot be opened) or the
//     first rule sync fails: upstream logs it and runs on, enforcing nothing.
//   - hostNetwork pods never enter the diverted set (their IP is the node's).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
	npaclient "sigs.k8s.io/network-policy-api/pkg/client/clientset/versioned"
	npainformers "sigs.k8s.io/network-policy-api/pkg/client/informers/externalversions"
	"sigs.k8s.io/network-policy-api/pkg/client/informers/externalversions/apis/v1alpha1"
)

// Upstream's flags (cmd/main.go of v0.8.0), same names and defaults, plus --compat-queue.
var (
	failOpen                   bool
	adminNetworkPolicy         bool
	baselineAdminNetworkPolicy bool
	queueID                    int
	metricsBindAddress         string
	hostnameOverride           string
	netfilterBug1766Fix        bool
	disableNRI                 bool
	compatQueue                bool
)

func init() {
	flag.BoolVar(&failOpen, "fail-open", false, "If set, don't drop packets if the controller is not running")
	flag.BoolVar(&adminNetworkPolicy, "admin-network-policy", false, "If set, enable Admin Network Policy API")
	flag.BoolVar(&baselineAdminNetworkPolicy, "baseline-admin-network-policy", false, "If set, enable Baseline Admin Network Policy API")
	flag.IntVar(&queueID, "nfqueue-id", 100, "Number of the nfqueue used")
	flag.StringVar(&metricsBindAddress, "metrics-bind-address", ":9080", "The IP address and port for the metrics server to serve on")
	flag.StringVar(&hostnameOverride, "hostname-override", "", "If non-empty, will be used as the name of the Node that kube-network-policies is running on. If unset, the node name is assumed to be the same as the node's hostname.")
	flag.BoolVar(&netfilterBug1766Fix, "netfilter-bug-1766-fix", true, "If set, process DNS packets on the PREROUTING hooks to avoid the race condition on the conntrack subsystem, not needed for kernels 6.12+ (see https://bugzilla.netfilter.org/show_bug.cgi?id=1766)")
	// Accepted for compatibility and ignored, as upstream's v0.8.0 does: its controller would
	// dereference a nil NRI plugin for unknown IPs if NRI were really disabled. Without an NRI
	// socket (containerd 1.6 has none) the plugin just fails to connect, logged once.
	flag.BoolVar(&disableNRI, "disable-nri", false, "Ignored (as in upstream v0.8.0): NRI is tried and skipped when the runtime has no NRI socket")
	flag.BoolVar(&compatQueue, "compat-queue", true, "Divert packets with the xtables NFQUEUE target through nft_compat (for kernels without CONFIG_NFT_QUEUE), in table inet "+compatTable)

	flag.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: netpol [options]\n\n")
		flag.PrintDefaults()
	}
}

func main() {
	os.Exit(run())
}

func run() int {
	c := logsapi.NewLoggingConfiguration()
	logsapi.AddGoFlags(c, flag.CommandLine)
	flag.Parse()
	logs.InitLogs()
	if err := logsapi.ValidateAndApply(c, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}

	// SIGTERM too: the kubelet stops containers with it, and the deferred cleanups below (and in
	// upstream's controller) remove the rules only on a clean stop.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer cancel()

	logger := klog.FromContext(ctx)
	flag.VisitAll(func(flag *flag.Flag) {
		logger.Info("flag", "name", flag.Name, "value", flag.Value)
	})

	if _, _, err := net.SplitHostPort(metricsBindAddress); err != nil {
		logger.Error(err, "parsing metrics bind address", "address", metricsBindAddress)
		return 1
	}
	if queueID < 1 || queueID > 65535 {
		logger.Error(nil, "nfqueue-id out of range 1-65535", "nfqueue-id", queueID)
		return 1
	}

	nodeName, err := nodeutil.GetHostname(hostnameOverride)
	if err != nil {
		logger.Error(err, "can not obtain the node name, use the hostname-override flag if you want to set it to a specific value")
		return 1
	}

	cfg := networkpolicy.Config{
		AdminNetworkPolicy:         adminNetworkPolicy,
		BaselineAdminNetworkPolicy: baselineAdminNetworkPolicy,
		FailOpen:                   failOpen,
		QueueID:                    queueID,
		NodeName:                   nodeName,
		NetfilterBug1766Fix:        netfilterBug1766Fix,
	}

	// The ServiceAccount's in-cluster config (KUBERNETES_SERVICE_HOST/PORT, token, CA).
	config, err := rest.InClusterConfig()
	if err != nil {
		logger.Error(err, "in-cluster configuration")
		return 1
	}
	npaConfig := rest.CopyConfig(config) // CRDs do not support protobuf
	config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	config.ContentType = "application/vnd.kubernetes.protobuf"

	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		logger.Error(err, "client")
		return 1
	}
	informersFactory := informers.NewSharedInformerFactory(clientset, 0)

	var npaClient *npaclient.Clientset
	var npaInformerFactory npainformers.SharedInformerFactory
	var nodeInformer coreinformers.NodeInformer
	if adminNetworkPolicy || baselineAdminNetworkPolicy {
		nodeInformer = informersFactory.Core().V1().Nodes()
		npaClient, err = npaclient.NewForConfig(npaConfig)
		if err != nil {
			logger.Error(err, "network-policy-api client")
			return 1
		}
		npaInformerFactory = npainformers.NewSharedInformerFactory(npaClient, 0)
	}
	var anpInformer v1alpha1.AdminNetworkPolicyInformer
	if adminNetworkPolicy {
		anpInformer = npaInformerFactory.Policy().V1alpha1().AdminNetworkPolicies()
	}
	var banpInformer v1alpha1.BaselineAdminNetworkPolicyInformer
	if baselineAdminNetworkPolicy {
		banpInformer = npaInformerFactory.Policy().V1alpha1().BaselineAdminNetworkPolicies()
	}

	http.Handle("/metrics", promhttp.Handler())
	go func() {
		err := http.ListenAndServe(metricsBindAddress, nil)
		utilruntime.HandleError(err)
	}()

	podInformer := informersFactory.Core().V1().Pods()
	networkPolicyInformer := informersFactory.Networking().V1().NetworkPolicies()
	controller, err := networkpolicy.NewController(
		clientset,
		networkPolicyInformer,
		informersFactory.Core().V1().Namespaces(),
		podInformer,
		nodeInformer,
		npaClient,
		anpInformer,
		banpInformer,
		cfg,
	)
	if err != nil {
		logger.Error(err, "Can not start network policy controller")
		return 1
	}

	// A controller that fails (cannot open the queue, ...) ends the process, so the pod restarts
	// and shows it, instead of running on without enforcing anything (upstream only logs it).
	var failed atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controller.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "network policy controller stopped")
			failed.Store(true)
			cancel()
		}
	}()
	var compat *compatRules
	if compatQueue {
		compat = newCompatRules(cfg, podInformer, networkPolicyInformer)
	}

	informersFactory.Start(ctx.Done())
	if adminNetworkPolicy || baselineAdminNetworkPolicy {
		npaInformerFactory.Start(ctx.Done())
	}

	compatDone := make(chan struct{})
	go func() {
		defer close(compatDone)
		if compat == nil {
			return
		}
		if err := compat.run(ctx); err != nil {
			logger.Error(err, "compat-queue rules cannot be programmed, nothing would be enforced")
			failed.Store(true)
			cancel()
		}
	}()

	<-ctx.Done()
	// Grace period for the cleanups, as upstream (5 s), but no longer than needed.
	grace := time.After(5 * time.Second)
	for _, ch := range []chan struct{}{compatDone, done} {
		select {
		case <-ch:
		case <-grace:
			return 1
		}
	}
	if failed.Load() {
		return 1
	}
	return 0
}

// compatTable is the nftables table (family inet) this program owns. Upstream's is
// "kube-network-policies"; a different name keeps the two apart on kernels where both work.
const compatTable = "slipway-netpol"

// compatRules keeps table compatTable equal to upstream's ruleset (syncNFTablesRules and
// addDNSRacersWorkaroundRules in pkg/networkpolicy/controller.go of v0.8.0) for the current
// policies and local pods, with the xt NFQUEUE target in place of the queue expression.
type compatRules struct {
	cfg       networkpolicy.Config
	pods      corelisters.PodLister
	policies  networkinglisters.NetworkPolicyLister
	hasSynced []cache.InformerSynced
	kick      chan struct{}
}

func newCompatRules(cfg networkpolicy.Config, pods coreinformers.PodInformer, policies interface {
	Informer() cache.SharedIndexInformer
	Lister() networkinglisters.NetworkPolicyLister
}) *compatRules {
	r := &compatRules{
		cfg:       cfg,
		pods:      pods.Lister(),
		policies:  policies.Lister(),
		hasSynced: []cache.InformerSynced{pods.Informer().HasSynced, policies.Informer().HasSynced},
		kick:      make(chan struct{}, 1),
	}
	kick := r.kickNow
	// Any pod or policy change may change the set of diverted pod IPs: recompute (cheap at the
	// size of this cluster) rather than track which change matters. Bursts of events coalesce.
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { kick() },
		UpdateFunc: func(oldObj, newObj any) { r.kickIfPodChanged(oldObj, newObj, kick) },
		DeleteFunc: func(any) { kick() },
	}
	_, _ = pods.Informer().AddEventHandler(handler)
	_, _ = policies.Informer().AddEventHandler(handler)
	return r
}

// kickIfPodChanged ignores pod status churn that cannot change the set (everything but node,
// labels, IPs and hostNetwork).
func (r *compatRules) kickIfPodChanged(oldObj, newObj any, kick func()) {
	o, ok1 := oldObj.(*v1.Pod)
	n, ok2 := newObj.(*v1.Pod)
	if ok1 && ok2 && o.Spec.NodeName == n.Spec.NodeName && o.Spec.HostNetwork == n.Spec.HostNetwork &&
		labels.Equals(o.Labels, n.Labels) && podIPsEqual(o.Status.PodIPs, n.Status.PodIPs) {
		return
	}
	kick()
}

func podIPsEqual(a, b []v1.PodIP) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP {
			return false
		}
	}
	return true
}

// run keeps the table in sync until ctx ends, then deletes it. A first sync that fails (kernel
// without nft_compat or xt NFQUEUE, no CAP_NET_ADMIN) is returned: the process must not look
// healthy while enforcing nothing. Later failures are retried.
func (r *compatRules) run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("compat-queue")
	if !cache.WaitForNamedCacheSync("compat-queue", ctx.Done(), r.hasSynced...) {
		return nil
	}
	if err := r.sync(logger); err != nil {
		r.clean(logger)
		return err
	}
	defer r.clean(logger)
	// Periodic resync as well: repairs the table if something else flushed the ruleset.
	resync := time.NewTicker(time.Minute)
	defer resync.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-resync.C:
		}
		if err := r.sync(logger); err != nil {
			logger.Error(err, "syncing nftables rules, retrying", "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			r.kickNow()
			continue
		}
		backoff = time.Second
	}
}

func (r *compatRules) kickNow() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// divertedIPs: the IPs of this node's pods selected by any NetworkPolicy (upstream's set).
func (r *compatRules) divertedIPs() (v4, v6 []nftables.SetElement, err error) {
	policies, err := r.policies.List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	ips4, ips6 := sets.New[string](), sets.New[string]()
	for _, policy := range policies {
		for _, pod := range r.localPodsFor(policy) {
			for _, ip := range pod.Status.PodIPs {
				if netutils.IsIPv4String(ip.IP) {
					ips4.Insert(ip.IP)
				} else {
					ips6.Insert(ip.IP)
				}
			}
		}
	}
	elements := func(ips sets.Set[string]) []nftables.SetElement {
		var out []nftables.SetElement
		for _, ip := range sets.List(ips) {
			if addr, err := netip.ParseAddr(ip); err == nil {
				out = append(out, nftables.SetElement{Key: addr.AsSlice()})
			}
		}
		return out
	}
	return elements(ips4), elements(ips6), nil
}

func (r *compatRules) localPodsFor(policy *networkingv1.NetworkPolicy) []*v1.Pod {
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil {
		return nil
	}
	pods, err := r.pods.Pods(policy.Namespace).List(selector)
	if err != nil {
		return nil
	}
	var local []*v1.Pod
	for _, pod := range pods {
		if pod.Spec.NodeName == r.cfg.NodeName && !pod.Spec.HostNetwork {
			local = append(local, pod)
		}
	}
	return local
}

// queue is the verdict-less "send to NFQUEUE" of upstream's rules: xt NFQUEUE revision 3
// (struct xt_NFQ_info_v3 {u16 queuenum, queues_total, flags}, padded to XT_ALIGN = 8 bytes, host
// byte order), flags NFQ_FLAG_BYPASS (1) with --fail-open: accept when nobody listens.
func (r *compatRules) queue() expr.Any {
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], uint16(r.cfg.QueueID))
	binary.NativeEndian.PutUint16(info[2:], 1)
	if r.cfg.FailOpen {
		binary.NativeEndian.PutUint16(info[4:], 1)
	}
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

func (r *compatRules) sync(logger klog.Logger) error {
	anp := r.cfg.AdminNetworkPolicy || r.cfg.BaselineAdminNetworkPolicy
	var v4, v6 []nftables.SetElement
	if !anp {
		var err error
		if v4, v6, err = r.divertedIPs(); err != nil {
			return err
		}
	}
	nft, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := &nftables.Table{Name: compatTable, Family: nftables.TableFamilyINet}
	// add + delete + add: replaces the whole table in one transaction.
	nft.AddTable(table)
	nft.DelTable(table)
	nft.AddTable(table)
	if !anp {
		if err := nft.AddSet(&nftables.Set{Table: table, Name: "podips-v4", KeyType: nftables.TypeIPAddr}, v4); err != nil {
			return err
		}
		if err := nft.AddSet(&nftables.Set{Table: table, Name: "podips-v6", KeyType: nftables.TypeIP6Addr}, v6); err != nil {
			return err
		}
	}
	rule := func(chain *nftables.Chain, exprs ...expr.Any) {
		nft.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	}
	l4proto := &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}
	nfproto := &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}
	dport := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	eq := func(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data} }
	neq := func(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: data} }
	dns := binaryutil.BigEndian.PutUint16(53)
	// The four "(ip|ip6) (saddr|daddr) @podips-v(4|6) queue" rules, or "queue" with (B)ANP.
	queueRules := func(chain *nftables.Chain) {
		if anp {
			rule(chain, r.queue())
			return
		}
		for _, m := range []struct {
			proto        byte
			offset, size uint32
			set          string
		}{
			{unix.NFPROTO_IPV4, 12, 4, "podips-v4"}, {unix.NFPROTO_IPV4, 16, 4, "podips-v4"},
			{unix.NFPROTO_IPV6, 8, 16, "podips-v6"}, {unix.NFPROTO_IPV6, 24, 16, "podips-v6"},
		} {
			rule(chain, nfproto, eq([]byte{m.proto}),
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: m.offset, Len: m.size},
				&expr.Lookup{SourceRegister: 1, SetName: m.set},
				r.queue())
		}
	}

	// postrouting, before SNAT (upstream: also catches IPVS traffic).
	post := nft.AddChain(&nftables.Chain{
		Name: "postrouting", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource - 5),
	})
	if r.cfg.NetfilterBug1766Fix {
		rule(post, l4proto, eq([]byte{unix.IPPROTO_UDP}), dport, eq(dns), accept) // DNS: see prerouting
	}
	rule(post, nfproto, eq([]byte{unix.NFPROTO_IPV6}), l4proto, eq([]byte{unix.IPPROTO_ICMPV6}), accept)
	// The node's own root processes (kubelet probes, ...) are never filtered.
	rule(post, &expr.Meta{Key: expr.MetaKeySKUID, Register: 1}, eq([]byte{0, 0, 0, 0}), accept)
	rule(post, &expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: []byte{0, 0, 0, 0}},
		neq([]byte{0, 0, 0, 0}), accept)
	queueRules(post)

	// UDP DNS on prerouting after DNAT (netfilter bug 1766, fixed in kernels 6.12+).
	if r.cfg.NetfilterBug1766Fix {
		pre := nft.AddChain(&nftables.Chain{
			Name: "prerouting", Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest + 5),
		})
		rule(pre, l4proto, neq([]byte{unix.IPPROTO_UDP}), accept)
		rule(pre, l4proto, eq([]byte{unix.IPPROTO_UDP}), dport, neq(dns), accept)
		queueRules(pre)
	}

	if err := nft.Flush(); err != nil {
		return fmt.Errorf("table inet %s: %w", compatTable, err)
	}
	logger.V(2).Info("synced nftables rules", "table", compatTable, "podIPv4", len(v4), "podIPv6", len(v6))
	return nil
}

func (r *compatRules) clean(logger klog.Logger) {
	nft, err := nftables.New()
	if err != nil {
		logger.Error(err, "cleanup: nftables")
		return
	}
	nft.DelTable(&nftables.Table{Name: compatTable, Family: nftables.TableFamilyINet})
	if err := nft.Flush(); err != nil {
		logger.Error(err, "cleanup: deleting table", "table", compatTable)
		return
	}
	logger.Info("deleted table", "table", compatTable)
}
