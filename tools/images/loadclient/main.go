// Command loadclient is the open-loop HTTP load client of slipway's integration tests: it proves
// that a blue/green traffic switch drops no request. It has no dependencies outside the standard
// library and is built static (CGO_ENABLED=0), for the host and for a FROM scratch image.
//
// Open loop: request i is scheduled at i/rate seconds after the start, whatever earlier requests
// are doing, and starts in its own goroutine at its slot (a server that slows down therefore
// faces more requests in flight, as it would from real users, rather than fewer). At most
// -max-inflight requests are outstanding; a slot that finds that many is not sent and counts as
// a failure of kind "inflight_cap".
//
// The run ends at -duration, after -max-requests slots, when the -stop-file appears, or on
// SIGTERM/SIGINT: no slot is started after that, requests in flight get up to -timeout (plus a
// second) to finish, and the summary is printed. A second signal cancels them at once.
//
// Output:
//   - stderr, first line: {"start_epoch_ms":...,"planned":...,"mode":...,"url":...}. Every time in
//     the records (at_ms, start_ms) is in ms since start_epoch_ms (the client's wall clock).
//   - -out FILE: one JSON object per request, in completion order: i, at_ms (scheduled offset),
//     start_ms (actual start offset), latency_ms, ok, status, kind (failure kind, "" when ok),
//     err (message, at most 200 characters), identity (the body's -identity-field), hostname (the
//     body's "hostname"), conn (1-based id of the TCP connection, 0 if none was obtained), path.
//   - stdout, last line: the summary (see type summary). sent = ok + failed = scheduled slots;
//     latencies and identities are of the ok requests only.
//
// A failure is a connection error, a reset, an EOF before the response, a timeout (no complete
// response within -timeout), or a status other than 2xx (redirects are not followed). It never
// uses a proxy from the environment: requests go to -url's host and nowhere else.
//
// Exit status: 0 when it ran (with failures or not: the caller decides), 1 when it could not
// write -out, 2 on bad flags.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	maxDuration    = 10 * time.Minute
	maxRate        = 1000.0
	maxTimeout     = time.Minute
	maxInflightCap = 10000
	maxErrLen      = 200
	maxBodyBytes   = 1 << 20
	stopFilePoll   = 50 * time.Millisecond
	drainExtra     = time.Second
)

// Modes of connection use.
const (
	modeNewConn   = "new-conn"
	modeKeepalive = "keepalive"
)

type config struct {
	URL           *url.URL
	Rate          float64
	Duration      time.Duration
	MaxRequests   int
	StopFile      string
	Mode          string
	Timeout       time.Duration
	IdentityField string
	Out           string
	PathEvery     int    // 0: never
	PathEveryPath string // path (with optional query) appended to the URL's base
	MaxInflight   int
}

// errUsage is a bad command line: exit status 2.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return errUsage{fmt.Sprintf(format, args...)}
}

// parseFlags parses and validates the command line. flag.ErrHelp is returned for -h.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "URL to GET (required), http or https")
	rate := fs.Float64("rate", 100, "target request rate per second, open loop (0 < rate <= 1000)")
	duration := fs.Duration("duration", 30*time.Second, "longest run (<= 10m)")
	maxRequests := fs.Int("max-requests", 0, "most requests scheduled; 0: as many as -duration allows")
	stopFile := fs.String("stop-file", "", "stop gracefully when this file appears (must not exist at start)")
	mode := fs.String("mode", modeKeepalive, "new-conn (a TCP connection per request) or keepalive (a small pool)")
	timeout := fs.Duration("timeout", 5*time.Second, "per request: no complete response within it is a failure (<= 1m)")
	identityField := fs.String("identity-field", "message", "JSON field of the response body that identifies the answering version")
	out := fs.String("out", "", "write one JSON line per request to this file (- for stderr)")
	pathEvery := fs.String("path-every", "", "N:PATH: every Nth request GETs PATH on the URL's scheme://host instead")
	maxInflight := fs.Int("max-inflight", 2000, "most requests in flight; a slot beyond it fails as inflight_cap")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return config{}, usageErr("unexpected arguments: %q", fs.Args())
	}
	cfg := config{
		Rate:          *rate,
		Duration:      *duration,
		MaxRequests:   *maxRequests,
		StopFile:      *stopFile,
		Mode:          *mode,
		Timeout:       *timeout,
		IdentityField: *identityField,
		Out:           *out,
		MaxInflight:   *maxInflight,
	}
	if *rawURL == "" {
		return config{}, usageErr("-url is required")
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		return config{}, usageErr("-url: %v", err)
	}
	cfg.URL = u
	if *pathEvery != "" {
		n, p, err := parsePathEvery(*pathEvery)
		if err != nil {
			return config{}, err
		}
		cfg.PathEvery, cfg.PathEveryPath = n, p
	}
	if err := validate(cfg); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// validate checks the limits that keep every run bounded.
func validate(cfg config) error {
	switch {
	case cfg.URL == nil:
		return usageErr("-url is required")
	case cfg.URL.Scheme != "http" && cfg.URL.Scheme != "https":
		return usageErr("-url %q: the scheme must be http or https", cfg.URL.String())
	case cfg.URL.Host == "":
		return usageErr("-url %q has no host", cfg.URL.String())
	case math.IsNaN(cfg.Rate) || cfg.Rate <= 0:
		return usageErr("-rate %v: must be more than 0", cfg.Rate)
	case cfg.Rate > maxRate:
		return usageErr("-rate %v: at most %v requests per second", cfg.Rate, maxRate)
	case cfg.Duration <= 0:
		return usageErr("-duration %v: must be more than 0", cfg.Duration)
	case cfg.Duration > maxDuration:
		return usageErr("-duration %v: at most %v", cfg.Duration, maxDuration)
	case cfg.MaxRequests < 0:
		return usageErr("-max-requests %d: must be 0 (no limit but -duration) or more", cfg.MaxRequests)
	case cfg.Mode != modeNewConn && cfg.Mode != modeKeepalive:
		return usageErr("-mode %q: must be %s or %s", cfg.Mode, modeNewConn, modeKeepalive)
	case cfg.Timeout <= 0:
		return usageErr("-timeout %v: must be more than 0", cfg.Timeout)
	case cfg.Timeout > maxTimeout:
		return usageErr("-timeout %v: at most %v", cfg.Timeout, maxTimeout)
	case cfg.IdentityField == "":
		return usageErr("-identity-field must not be empty")
	case cfg.MaxInflight < 1 || cfg.MaxInflight > maxInflightCap:
		return usageErr("-max-inflight %d: must be 1 to %d", cfg.MaxInflight, maxInflightCap)
	case cfg.PathEvery < 0:
		return usageErr("-path-every: N must be 1 or more")
	}
	return nil
}

// parsePathEvery parses "N:PATH" (N >= 1, PATH starting with "/").
func parsePathEvery(s string) (int, string, error) {
	nText, p, found := strings.Cut(s, ":")
	if !found {
		return 0, "", usageErr("-path-every %q: want N:PATH, e.g. 10:/delay/3", s)
	}
	n, err := strconv.Atoi(nText)
	if err != nil || n < 1 {
		return 0, "", usageErr("-path-every %q: N must be an integer of 1 or more", s)
	}
	if !strings.HasPrefix(p, "/") {
		return 0, "", usageErr("-path-every %q: PATH must start with /", s)
	}
	if _, err := url.Parse(p); err != nil {
		return 0, "", usageErr("-path-every %q: %v", s, err)
	}
	return n, p, nil
}

// slotOffset is when request i (from 0) is scheduled, after the start.
func slotOffset(i int, rate float64) time.Duration {
	return time.Duration(math.Round(float64(i) * float64(time.Second) / rate))
}

// plannedSlots is how many requests fit in the run: those scheduled before duration, at most
// maxRequests (0: no such limit).
func plannedSlots(rate float64, duration time.Duration, maxRequests int) int {
	n := int(math.Ceil(duration.Seconds() * rate))
	// The product may round up past a slot that falls exactly at duration: keep offsets < duration.
	for n > 0 && slotOffset(n-1, rate) >= duration {
		n--
	}
	for slotOffset(n, rate) < duration {
		n++
	}
	if maxRequests > 0 && maxRequests < n {
		n = maxRequests
	}
	return n
}

// requestURL is the URL of request i: every pathEvery-th request (i+1 divisible by it) GETs
// pathEveryPath on the base scheme://host of u; all others GET u itself.
func requestURL(u *url.URL, i, pathEvery int, pathEveryPath string) string {
	if pathEvery > 0 && (i+1)%pathEvery == 0 {
		return u.Scheme + "://" + u.Host + pathEveryPath
	}
	return u.String()
}

// percentile of sorted values, nearest rank (p in 0..100); 0 for no values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// achievedRate is the rate the slots were started at: started requests over the time the
// schedule covered, which is at least dispatched slots / target rate (so a run cut short by a
// stop between slots is not credited with a higher rate than it aimed at).
func achievedRate(started, dispatched int, elapsed time.Duration, target float64) float64 {
	window := elapsed.Seconds()
	if planned := float64(dispatched) / target; planned > window {
		window = planned
	}
	if window <= 0 {
		return 0
	}
	return round3(float64(started) / window)
}

// truncate s to at most n characters (runes), valid UTF-8 kept.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// parseIdentity reads the field and "hostname" from a JSON object body; "" for what is missing.
// A field that is not a string is given as its JSON text (null counts as missing).
func parseIdentity(body []byte, field string) (identity, hostname string) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return "", ""
	}
	text := func(raw json.RawMessage) string {
		if raw == nil {
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	return text(obj[field]), text(obj["hostname"])
}

// classify names the kind of a request error.
func classify(err error) string {
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	}
	return "other"
}

// statusKind is the failure kind of a non-2xx status.
func statusKind(status int) string { return "status_" + strconv.Itoa(status) }

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// record is one request, as written to -out.
type record struct {
	I         int     `json:"i"`
	AtMs      float64 `json:"at_ms"`
	StartMs   float64 `json:"start_ms"`
	LatencyMs float64 `json:"latency_ms"`
	OK        bool    `json:"ok"`
	Status    int     `json:"status"`
	Kind      string  `json:"kind"`
	Err       string  `json:"err"`
	Identity  string  `json:"identity"`
	Hostname  string  `json:"hostname"`
	Conn      int     `json:"conn"`
	Path      string  `json:"path"`
}

// summary is the last line on stdout.
type summary struct {
	TargetRate     float64        `json:"target_rate"`
	AchievedRate   float64        `json:"achieved_rate"`
	Sent           int            `json:"sent"`
	OK             int            `json:"ok"`
	Failed         int            `json:"failed"`
	FailuresByKind map[string]int `json:"failures_by_kind"`
	P50Ms          float64        `json:"p50_ms"`
	P99Ms          float64        `json:"p99_ms"`
	MaxMs          float64        `json:"max_ms"`
	Identities     map[string]int `json:"identities"`
	DurationMs     float64        `json:"duration_ms"`
	DistinctConns  int            `json:"distinct_conns"`
	StartEpochMs   int64          `json:"start_epoch_ms"`
	Mode           string         `json:"mode"`
	Planned        int            `json:"planned"`
	StoppedBy      string         `json:"stopped_by"`
}

// aggregator folds records into a summary.
type aggregator struct {
	sent, ok, failed int
	started          int // sent minus the slots skipped at the in-flight cap
	kinds            map[string]int
	identities       map[string]int
	latencies        []float64 // of ok requests
}

func newAggregator() *aggregator {
	return &aggregator{kinds: map[string]int{}, identities: map[string]int{}}
}

func (a *aggregator) add(r record) {
	a.sent++
	if r.Kind != kindInflightCap {
		a.started++
	}
	if r.OK {
		a.ok++
		a.identities[r.Identity]++
		a.latencies = append(a.latencies, r.LatencyMs)
		return
	}
	a.failed++
	a.kinds[r.Kind]++
}

func (a *aggregator) summary(target float64) summary {
	sorted := append([]float64(nil), a.latencies...)
	sort.Float64s(sorted)
	s := summary{
		TargetRate:     target,
		Sent:           a.sent,
		OK:             a.ok,
		Failed:         a.failed,
		FailuresByKind: a.kinds,
		Identities:     a.identities,
		P50Ms:          percentile(sorted, 50),
		P99Ms:          percentile(sorted, 99),
	}
	if len(sorted) > 0 {
		s.MaxMs = sorted[len(sorted)-1]
	}
	return s
}

const kindInflightCap = "inflight_cap"

// connTracker numbers the TCP connections requests got, by local address: a connection that was
// not reused is new (a new number, even if its port was used before); a reused one keeps its own.
type connTracker struct {
	mu     sync.Mutex
	next   int
	byAddr map[string]int
}

func (t *connTracker) id(localAddr string, reused bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byAddr == nil {
		t.byAddr = map[string]int{}
	}
	if id, ok := t.byAddr[localAddr]; ok && reused {
		return id
	}
	t.next++
	t.byAddr[localAddr] = t.next
	return t.next
}

func (t *connTracker) distinct() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

func newHTTPClient(cfg config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 nil, // never a proxy from the environment
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		DisableCompression:    true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
	}
	if cfg.Mode == modeNewConn {
		transport.DisableKeepAlives = true
	} else {
		// Open loop may need several connections at once: no limit on them, a few kept idle.
		transport.MaxIdleConnsPerHost = 4
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type runner struct {
	cfg    config
	client *http.Client
	conns  connTracker
	t0     time.Time
}

// do sends request i (scheduled at offset at) and reports it.
func (r *runner) do(ctx context.Context, i int, at time.Duration) record {
	target := requestURL(r.cfg.URL, i, r.cfg.PathEvery, r.cfg.PathEveryPath)
	rec := record{I: i, AtMs: ms(at), Path: pathOf(target)}
	start := time.Now()
	rec.StartMs = ms(start.Sub(r.t0))
	var connID atomic.Int64
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			connID.Store(int64(r.conns.id(info.Conn.LocalAddr().String(), info.Reused)))
		},
	}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(ctx, trace), r.cfg.Timeout)
	defer cancel()
	fail := func(err error) record {
		rec.LatencyMs = ms(time.Since(start))
		rec.Kind = classify(err)
		rec.Err = truncate(err.Error(), maxErrLen)
		rec.Conn = int(connID.Load())
		return rec
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("User-Agent", "slipway-loadclient")
	resp, err := r.client.Do(req)
	if err != nil {
		return fail(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body) // the response is complete only when all of it came
	}
	resp.Body.Close()
	rec.Status = resp.StatusCode
	if err != nil {
		return fail(err)
	}
	rec.LatencyMs = ms(time.Since(start))
	rec.Conn = int(connID.Load())
	rec.Identity, rec.Hostname = parseIdentity(body, r.cfg.IdentityField)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		rec.Kind = statusKind(resp.StatusCode)
		rec.Err = truncate(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body))), maxErrLen)
		return rec
	}
	rec.OK = true
	return rec
}

func pathOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

// stopper is closed once, by the first of the stop triggers; reason says which.
type stopper struct {
	once   sync.Once
	ch     chan struct{}
	reason atomic.Value
}

func newStopper() *stopper { return &stopper{ch: make(chan struct{})} }

func (s *stopper) stop(reason string) {
	s.once.Do(func() {
		s.reason.Store(reason)
		close(s.ch)
	})
}

func (s *stopper) why() string {
	if v, ok := s.reason.Load().(string); ok {
		return v
	}
	return ""
}

// run drives one load run. stop ends the schedule gracefully (signals, in main); hard cancels the
// requests in flight. Records go to recOut when it is not nil.
func run(cfg config, stop *stopper, hard <-chan struct{}, recOut io.Writer, stderr io.Writer) (summary, error) {
	r := &runner{cfg: cfg, client: newHTTPClient(cfg)}
	defer r.client.CloseIdleConnections()
	slots := plannedSlots(cfg.Rate, cfg.Duration, cfg.MaxRequests)

	var (
		mu       sync.Mutex
		agg      = newAggregator()
		bw       *bufio.Writer
		enc      *json.Encoder
		writeErr error
	)
	if recOut != nil {
		bw = bufio.NewWriterSize(recOut, 64*1024)
		enc = json.NewEncoder(bw)
	}
	sink := func(rec record) {
		mu.Lock()
		defer mu.Unlock()
		agg.add(rec)
		if enc != nil && writeErr == nil {
			writeErr = enc.Encode(rec)
		}
	}

	r.t0 = time.Now()
	startLine, _ := json.Marshal(struct {
		StartEpochMs int64  `json:"start_epoch_ms"`
		Planned      int    `json:"planned"`
		Mode         string `json:"mode"`
		URL          string `json:"url"`
	}{r.t0.UnixMilli(), slots, cfg.Mode, cfg.URL.String()})
	fmt.Fprintln(stderr, string(startLine))

	if cfg.StopFile != "" {
		go watchStopFile(cfg.StopFile, stop)
	}

	reqCtx, cancelReqs := context.WithCancel(context.Background())
	defer cancelReqs()
	inflight := make(chan struct{}, cfg.MaxInflight)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	dispatched := 0
schedule:
	for i := 0; i < slots; i++ {
		at := slotOffset(i, cfg.Rate)
		if wait := time.Until(r.t0.Add(at)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-stop.ch:
				timer.Stop()
				break schedule
			}
		} else {
			select {
			case <-stop.ch:
				break schedule
			default:
			}
		}
		dispatched++
		select {
		case inflight <- struct{}{}:
			wg.Add(1)
			go func(i int, at time.Duration) {
				defer wg.Done()
				defer func() { <-inflight }()
				sink(r.do(reqCtx, i, at))
			}(i, at)
		default:
			sink(record{
				I: i, AtMs: ms(at), StartMs: ms(time.Since(r.t0)), Kind: kindInflightCap,
				Err:  fmt.Sprintf("not sent: %d requests already in flight", cfg.MaxInflight),
				Path: pathOf(requestURL(cfg.URL, i, cfg.PathEvery, cfg.PathEveryPath)),
			})
		}
	}
	scheduleEnd := time.Since(r.t0)
	reason := stop.why()
	if reason == "" {
		if cfg.MaxRequests > 0 && slots == cfg.MaxRequests {
			reason = "max-requests"
		} else {
			reason = "duration"
		}
	}
	stop.stop(reason) // ends the stop-file watcher

	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	grace := time.NewTimer(cfg.Timeout + drainExtra)
	defer grace.Stop()
	select {
	case <-drained:
	case <-grace.C:
		cancelReqs()
		<-drained
	case <-hard:
		cancelReqs()
		<-drained
	}

	mu.Lock()
	defer mu.Unlock()
	s := agg.summary(cfg.Rate)
	s.AchievedRate = achievedRate(agg.started, dispatched, scheduleEnd, cfg.Rate)
	s.DurationMs = ms(time.Since(r.t0))
	s.DistinctConns = r.conns.distinct()
	s.StartEpochMs = r.t0.UnixMilli()
	s.Mode = cfg.Mode
	s.Planned = slots
	s.StoppedBy = reason
	if bw != nil && writeErr == nil {
		writeErr = bw.Flush()
	}
	return s, writeErr
}

// watchStopFile stops the run when path appears; it returns once the run is stopping.
func watchStopFile(path string, stop *stopper) {
	tick := time.NewTicker(stopFilePoll)
	defer tick.Stop()
	for {
		select {
		case <-stop.ch:
			return
		case <-tick.C:
			if _, err := os.Stat(path); err == nil {
				stop.stop("stop-file")
				return
			}
		}
	}
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	// `loadclient -create-file PATH` makes PATH and exits: how a test stops a client running in
	// a FROM scratch pod (kubectl exec; the image has no shell and no touch).
	if len(args) == 2 && args[0] == "-create-file" {
		f, err := os.OpenFile(args[1], os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "loadclient: -create-file: %v\n", err)
			return 1
		}
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "loadclient: -create-file: %v\n", err)
			return 1
		}
		return 0
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadclient: %v\n", err)
		return 2
	}
	if cfg.StopFile != "" {
		if _, err := os.Stat(cfg.StopFile); err == nil {
			fmt.Fprintf(stderr, "loadclient: -stop-file %s exists already: remove it first\n", cfg.StopFile)
			return 2
		}
	}
	var outFile *os.File
	var recOut io.Writer
	if cfg.Out == "-" {
		// In a pod the records go to the log (stderr), after the start line; the summary stays
		// the last line of stdout.
		recOut = stderr
	} else if cfg.Out != "" {
		f, err := os.Create(cfg.Out)
		if err != nil {
			fmt.Fprintf(stderr, "loadclient: -out: %v\n", err)
			return 1
		}
		outFile, recOut = f, f
	}

	stop := newStopper()
	hard := make(chan struct{})
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	go func() {
		<-signals
		stop.stop("signal")
		<-signals
		close(hard)
	}()

	s, err := run(cfg, stop, hard, recOut, stderr)
	if outFile != nil {
		if closeErr := outFile.Close(); err == nil {
			err = closeErr
		}
	}
	line, _ := json.Marshal(s)
	fmt.Fprintln(stdout, string(line))
	if err != nil {
		fmt.Fprintf(stderr, "loadclient: -out: %v\n", err)
		return 1
	}
	return 0
}
