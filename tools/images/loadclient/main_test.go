package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the end-to-end tests run this test binary as the command itself.
func TestMain(m *testing.M) {
	if os.Getenv("LOADCLIENT_TEST_MAIN") == "1" {
		os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestParseFlags(t *testing.T) {
	const u = "http://127.0.0.1:9898/"
	tests := []struct {
		name string
		args []string
		err  string // "" for valid
	}{
		{"defaults", []string{"-url", u}, ""},
		{"all set", []string{"-url", u, "-rate", "1000", "-duration", "10m", "-max-requests", "5", "-mode", "new-conn",
			"-timeout", "1m", "-identity-field", "color", "-path-every", "10:/delay/3", "-max-inflight", "10000"}, ""},
		{"fractional rate", []string{"-url", u, "-rate", "0.5"}, ""},
		{"https", []string{"-url", "https://127.0.0.1/"}, ""},
		{"no url", nil, "-url is required"},
		{"ftp url", []string{"-url", "ftp://127.0.0.1/"}, "scheme must be http or https"},
		{"url without host", []string{"-url", "http:///x"}, "has no host"},
		{"bad url", []string{"-url", "http://[::1"}, "-url"},
		{"rate 0", []string{"-url", u, "-rate", "0"}, "-rate 0: must be more than 0"},
		{"negative rate", []string{"-url", u, "-rate", "-3"}, "must be more than 0"},
		{"rate too high", []string{"-url", u, "-rate", "1000.5"}, "at most 1000 requests per second"},
		{"NaN rate", []string{"-url", u, "-rate", "NaN"}, "must be more than 0"},
		{"duration 0", []string{"-url", u, "-duration", "0s"}, "-duration 0s: must be more than 0"},
		{"duration too long", []string{"-url", u, "-duration", "10m1s"}, "at most 10m0s"},
		{"negative max-requests", []string{"-url", u, "-max-requests", "-1"}, "-max-requests -1"},
		{"bad mode", []string{"-url", u, "-mode", "pooled"}, `-mode "pooled": must be new-conn or keepalive`},
		{"timeout 0", []string{"-url", u, "-timeout", "0s"}, "-timeout 0s"},
		{"timeout too long", []string{"-url", u, "-timeout", "61s"}, "at most 1m0s"},
		{"empty identity field", []string{"-url", u, "-identity-field", ""}, "-identity-field"},
		{"max-inflight 0", []string{"-url", u, "-max-inflight", "0"}, "-max-inflight 0"},
		{"max-inflight too many", []string{"-url", u, "-max-inflight", "10001"}, "must be 1 to 10000"},
		{"path-every without colon", []string{"-url", u, "-path-every", "10"}, "want N:PATH"},
		{"path-every N 0", []string{"-url", u, "-path-every", "0:/delay/3"}, "N must be an integer of 1 or more"},
		{"path-every N not a number", []string{"-url", u, "-path-every", "x:/delay/3"}, "N must be an integer"},
		{"path-every relative path", []string{"-url", u, "-path-every", "3:delay/3"}, "PATH must start with /"},
		{"unknown flag", []string{"-url", u, "-burst", "3"}, "flag provided but not defined: -burst"},
		{"bad duration syntax", []string{"-url", u, "-duration", "30"}, "invalid value"},
		{"positional argument", []string{"-url", u, "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var usage errUsage
			if !errors.As(err, &usage) {
				t.Fatalf("want a usage error containing %q, got %v", tt.err, err)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("want an error containing %q, got %q", tt.err, err)
			}
		})
	}
}

func TestParseFlagsValues(t *testing.T) {
	cfg, err := parseFlags([]string{"-url", "http://127.0.0.1:1/a?b=c", "-path-every", "4:/delay/1?x=y"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != 100 || cfg.Duration != 30*time.Second || cfg.Timeout != 5*time.Second || cfg.Mode != modeKeepalive ||
		cfg.IdentityField != "message" || cfg.MaxInflight != 2000 || cfg.MaxRequests != 0 {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
	if cfg.PathEvery != 4 || cfg.PathEveryPath != "/delay/1?x=y" {
		t.Fatalf("path-every: %d %q", cfg.PathEvery, cfg.PathEveryPath)
	}
}

func TestRealMainExitStatus(t *testing.T) {
	var stderr bytes.Buffer
	if got := realMain([]string{"-url", "http://127.0.0.1:1/", "-rate", "5000"}, io.Discard, &stderr); got != 2 {
		t.Fatalf("bad flags: want exit 2, got %d", got)
	}
	if !strings.Contains(stderr.String(), "loadclient: -rate 5000: at most 1000") {
		t.Fatalf("unclear message: %q", stderr.String())
	}
	stopFile := filepath.Join(t.TempDir(), "stop")
	if err := os.WriteFile(stopFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if got := realMain([]string{"-url", "http://127.0.0.1:1/", "-stop-file", stopFile}, io.Discard, &stderr); got != 2 {
		t.Fatalf("stale stop file: want exit 2, got %d", got)
	}
	if !strings.Contains(stderr.String(), "exists already") {
		t.Fatalf("unclear message: %q", stderr.String())
	}
	if got := realMain([]string{"-h"}, io.Discard, io.Discard); got != 0 {
		t.Fatalf("-h: want exit 0, got %d", got)
	}
}

func TestSchedule(t *testing.T) {
	offsets := []struct {
		i    int
		rate float64
		want time.Duration
	}{
		{0, 100, 0},
		{1, 100, 10 * time.Millisecond},
		{250, 100, 2500 * time.Millisecond},
		{1, 3, 333333333},
		{2, 3, 666666667},
		{3, 0.5, 6 * time.Second},
		{599999, 1000, 599999 * time.Millisecond},
	}
	for _, tt := range offsets {
		if got := slotOffset(tt.i, tt.rate); got != tt.want {
			t.Errorf("slotOffset(%d, %v) = %v, want %v", tt.i, tt.rate, got, tt.want)
		}
	}
	counts := []struct {
		rate        float64
		duration    time.Duration
		maxRequests int
		want        int
	}{
		{100, 30 * time.Second, 0, 3000},
		{100, 30 * time.Second, 50, 50},
		{100, 30 * time.Second, 5000, 3000},
		{1000, 10 * time.Minute, 0, 600000},
		{3, time.Second, 0, 3},       // 0, 333 ms, 667 ms
		{7, time.Second, 0, 7},       // 857 ms is the last before 1 s
		{0.5, 3 * time.Second, 0, 2}, // 0, 2 s
		{0.5, 2 * time.Second, 0, 1}, // a slot exactly at the end is not in the run
		{1, 1500 * time.Millisecond, 0, 2},
		{1000, time.Nanosecond, 0, 1}, // slot 0 is always in
	}
	for _, tt := range counts {
		got := plannedSlots(tt.rate, tt.duration, tt.maxRequests)
		if got != tt.want {
			t.Errorf("plannedSlots(%v, %v, %d) = %d, want %d", tt.rate, tt.duration, tt.maxRequests, got, tt.want)
		}
		// Every planned slot is before the end, the next one is not (without -max-requests).
		if tt.maxRequests == 0 && (slotOffset(got-1, tt.rate) >= tt.duration || slotOffset(got, tt.rate) < tt.duration) {
			t.Errorf("plannedSlots(%v, %v) = %d is not the count of slots before the end", tt.rate, tt.duration, got)
		}
	}
}

func TestRequestURL(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9898/api/info?x=1")
	tests := []struct {
		i, every int
		path     string
		want     string
	}{
		{0, 0, "", "http://127.0.0.1:9898/api/info?x=1"},
		{0, 3, "/delay/3", "http://127.0.0.1:9898/api/info?x=1"},
		{1, 3, "/delay/3", "http://127.0.0.1:9898/api/info?x=1"},
		{2, 3, "/delay/3", "http://127.0.0.1:9898/delay/3"}, // the 3rd request
		{5, 3, "/delay/3", "http://127.0.0.1:9898/delay/3"}, // the 6th
		{6, 3, "/delay/3", "http://127.0.0.1:9898/api/info?x=1"},
		{0, 1, "/status/200?a=b", "http://127.0.0.1:9898/status/200?a=b"},
	}
	for _, tt := range tests {
		if got := requestURL(u, tt.i, tt.every, tt.path); got != tt.want {
			t.Errorf("requestURL(i=%d, every=%d, %q) = %q, want %q", tt.i, tt.every, tt.path, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		values []float64
		p      float64
		want   float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 50, 7},
		{[]float64{7}, 99, 7},
		{[]float64{1, 2}, 50, 1},
		{[]float64{1, 2, 3}, 50, 2},
		{[]float64{1, 2, 3, 4}, 50, 2},
		{[]float64{1, 2, 3, 4}, 99, 4},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{hundred, 0, 1},
	}
	for _, tt := range tests {
		if got := percentile(tt.values, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.values, tt.p, got, tt.want)
		}
	}
}

func TestAggregator(t *testing.T) {
	a := newAggregator()
	for _, r := range []record{
		{OK: true, Identity: "blue", LatencyMs: 3},
		{OK: true, Identity: "blue", LatencyMs: 1},
		{OK: true, Identity: "green", LatencyMs: 2},
		{OK: true, Identity: "", LatencyMs: 10},
		{Kind: "status_503", Identity: "green", LatencyMs: 1},
		{Kind: "timeout", LatencyMs: 5000},
		{Kind: "timeout", LatencyMs: 5000},
		{Kind: kindInflightCap},
	} {
		a.add(r)
	}
	s := a.summary(100)
	want := summary{
		TargetRate: 100, Sent: 8, OK: 4, Failed: 4,
		FailuresByKind: map[string]int{"status_503": 1, "timeout": 2, kindInflightCap: 1},
		Identities:     map[string]int{"blue": 2, "green": 1, "": 1},
		P50Ms:          2, P99Ms: 10, MaxMs: 10,
	}
	got, _ := json.Marshal(s)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("summary\n got %s\nwant %s", got, wantJSON)
	}
	if a.started != 7 {
		t.Fatalf("started = %d, want 7 (the inflight_cap slot was not sent)", a.started)
	}
	empty, _ := json.Marshal(newAggregator().summary(5))
	if !strings.Contains(string(empty), `"failures_by_kind":{}`) || !strings.Contains(string(empty), `"identities":{}`) {
		t.Fatalf("an empty summary has empty objects, not null: %s", empty)
	}
}

func TestAchievedRate(t *testing.T) {
	tests := []struct {
		started, dispatched int
		elapsed             time.Duration
		target, want        float64
	}{
		{3000, 3000, 29990 * time.Millisecond, 100, 100}, // on time: the schedule covers 30 s
		{3000, 3000, 60 * time.Second, 100, 50},          // the scheduler fell behind
		{15, 15, 145 * time.Millisecond, 100, 100},       // stopped between slots
		{10, 15, 150 * time.Millisecond, 100, 66.667},    // 5 slots skipped at the cap
		{0, 0, 0, 100, 0},
	}
	for _, tt := range tests {
		if got := achievedRate(tt.started, tt.dispatched, tt.elapsed, tt.target); got != tt.want {
			t.Errorf("achievedRate(%d, %d, %v, %v) = %v, want %v", tt.started, tt.dispatched, tt.elapsed, tt.target, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("x", 250)
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 200, ""},
		{"short", 200, "short"},
		{long, 200, long[:200]},
		{strings.Repeat("é", 201), 200, strings.Repeat("é", 200)},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q…, %d) = %q", tt.in[:min(10, len(tt.in))], tt.n, got)
		}
	}
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		body, field    string
		identity, host string
	}{
		{`{"hostname":"app-blue-7f9c","message":"blue"}`, "message", "blue", "app-blue-7f9c"},
		{`{"message":"green"}`, "message", "green", ""},
		{`{"color":"green","message":"greetings"}`, "color", "green", ""},
		{`{"version":2}`, "version", "2", ""},
		{`{"message":null}`, "message", "", ""},
		{`{"hostname":"h"}`, "message", "", "h"},
		{`not json`, "message", "", ""},
		{`["blue"]`, "message", "", ""},
		{``, "message", "", ""},
	}
	for _, tt := range tests {
		identity, host := parseIdentity([]byte(tt.body), tt.field)
		if identity != tt.identity || host != tt.host {
			t.Errorf("parseIdentity(%q, %q) = %q, %q; want %q, %q", tt.body, tt.field, identity, host, tt.identity, tt.host)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: err}
	}
	opErr := func(op string, errno syscall.Errno) error {
		return wrap(&net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)})
	}
	tests := []struct {
		err  error
		want string
	}{
		{wrap(context.DeadlineExceeded), "timeout"},
		{wrap(fmt.Errorf("reading body: %w", context.DeadlineExceeded)), "timeout"},
		{wrap(context.Canceled), "canceled"},
		{opErr("dial", syscall.ECONNREFUSED), "refused"},
		{opErr("read", syscall.ECONNRESET), "reset"},
		{opErr("write", syscall.EPIPE), "broken_pipe"},
		{opErr("dial", syscall.EHOSTUNREACH), "unreachable"},
		{wrap(&net.DNSError{Err: "no such host", Name: "nowhere"}), "dns"},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}), "timeout"},
		{wrap(io.EOF), "eof"},
		{io.ErrUnexpectedEOF, "eof"},
		{errors.New("something else"), "other"},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestConnTracker(t *testing.T) {
	var c connTracker
	steps := []struct {
		addr   string
		reused bool
		want   int
	}{
		{"127.0.0.1:5000", false, 1},
		{"127.0.0.1:5000", true, 1},
		{"127.0.0.1:5001", false, 2},
		{"127.0.0.1:5000", true, 1},
		{"127.0.0.1:5000", false, 3}, // a new connection on a port used before
		{"127.0.0.1:5000", true, 3},
		{"127.0.0.1:5002", true, 4}, // reused but never seen: counted, not merged
	}
	for n, s := range steps {
		if got := c.id(s.addr, s.reused); got != s.want {
			t.Fatalf("step %d: id(%s, %v) = %d, want %d", n, s.addr, s.reused, got, s.want)
		}
	}
	if c.distinct() != 4 {
		t.Fatalf("distinct = %d, want 4", c.distinct())
	}
}

// ---- End to end, against loopback servers of the tests' own. ----

// result is one run: its summary, its records (by i), the start line and the server's view.
type result struct {
	s       summary
	records []record
	stderr  string
}

func loadRun(t *testing.T, stop *stopper, args ...string) result {
	t.Helper()
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if stop == nil {
		stop = newStopper()
	}
	var out, stderr bytes.Buffer
	s, err := run(cfg, stop, make(chan struct{}), &out, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	res := result{s: s, stderr: stderr.String()}
	res.records = parseRecords(t, out.Bytes())
	if len(res.records) != s.Sent || s.OK+s.Failed != s.Sent {
		t.Fatalf("%d records, summary %+v", len(res.records), s)
	}
	return res
}

func parseRecords(t *testing.T, data []byte) []record {
	t.Helper()
	var records []record
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		var r record
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			t.Fatalf("record %q: %v", scanner.Text(), err)
		}
		records = append(records, r)
	}
	byI := make([]record, len(records))
	seen := make([]bool, len(records))
	for _, r := range records {
		if r.I < 0 || r.I >= len(records) || seen[r.I] {
			t.Fatalf("record indexes are not 0..%d once each: %+v", len(records)-1, r)
		}
		byI[r.I], seen[r.I] = r, true
	}
	return byI
}

// remoteAddrs counts the distinct client connections a server saw.
type remoteAddrs struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (r *remoteAddrs) add(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[addr] = true
}

func (r *remoteAddrs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// blueGreen serves {"message":"blue"} for its first switchAfter requests, then green.
func blueGreen(switchAfter int64, conns *remoteAddrs) *httptest.Server {
	var served atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.add(r.RemoteAddr)
		color := "blue"
		if served.Add(1) > switchAfter {
			color = "green"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"hostname":"app-%s-0","message":%q}`, color, color)
	}))
}

func TestBlueGreenSwitch(t *testing.T) {
	for _, tt := range []struct {
		mode     string
		maxConns int
	}{
		{modeKeepalive, 10}, // a few at most: open loop may need some at once
		{modeNewConn, 100},  // exactly one per request
	} {
		t.Run(tt.mode, func(t *testing.T) {
			var conns remoteAddrs
			srv := blueGreen(40, &conns)
			defer srv.Close()
			res := loadRun(t, nil, "-url", srv.URL+"/", "-rate", "200", "-max-requests", "100", "-duration", "10s", "-mode", tt.mode)
			s := res.s
			if s.Sent != 100 || s.OK != 100 || s.Failed != 0 || len(s.FailuresByKind) != 0 {
				t.Fatalf("want 100 ok, got %+v", s)
			}
			if s.Identities["blue"] != 40 || s.Identities["green"] != 60 || len(s.Identities) != 2 {
				t.Fatalf("identities %v, want blue 40, green 60", s.Identities)
			}
			if s.StoppedBy != "max-requests" || s.Planned != 100 || s.TargetRate != 200 || s.Mode != tt.mode {
				t.Fatalf("summary %+v", s)
			}
			if s.DistinctConns != conns.count() {
				t.Fatalf("distinct_conns %d, the server saw %d", s.DistinctConns, conns.count())
			}
			if tt.mode == modeNewConn && s.DistinctConns != 100 {
				t.Fatalf("new-conn: distinct_conns %d, want 100", s.DistinctConns)
			}
			if s.DistinctConns < 1 || s.DistinctConns > tt.maxConns {
				t.Fatalf("distinct_conns %d, want 1..%d", s.DistinctConns, tt.maxConns)
			}
			for _, r := range res.records {
				if !r.OK || r.Status != 200 || r.Hostname != "app-"+r.Identity+"-0" || r.Conn < 1 || r.Path != "/" || r.Kind != "" || r.Err != "" {
					t.Fatalf("record %+v", r)
				}
				if want := float64(r.I) * 5; math.Abs(r.AtMs-want) > 0.001 {
					t.Fatalf("record %d at %v ms, want %v", r.I, r.AtMs, want)
				}
			}
			var start struct {
				StartEpochMs int64 `json:"start_epoch_ms"`
				Planned      int   `json:"planned"`
			}
			if err := json.Unmarshal([]byte(strings.SplitN(res.stderr, "\n", 2)[0]), &start); err != nil ||
				start.StartEpochMs != s.StartEpochMs || start.Planned != 100 {
				t.Fatalf("start line %q (%v), summary %+v", res.stderr, err, s)
			}
		})
	}
}

func TestIdentityField(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"color":"green","message":"greetings from podinfo"}`)
	}))
	defer srv.Close()
	res := loadRun(t, nil, "-url", srv.URL, "-rate", "500", "-max-requests", "20", "-identity-field", "color")
	if res.s.Identities["green"] != 20 {
		t.Fatalf("identities %v", res.s.Identities)
	}
}

func TestSometimes503(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if served.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "no endpoints available")
			return
		}
		fmt.Fprint(w, `{"message":"blue"}`)
	}))
	defer srv.Close()
	res := loadRun(t, nil, "-url", srv.URL, "-rate", "300", "-max-requests", "50", "-mode", "new-conn")
	s := res.s
	if s.Sent != 50 || s.OK != 40 || s.Failed != 10 || s.FailuresByKind["status_503"] != 10 || len(s.FailuresByKind) != 1 {
		t.Fatalf("want 40 ok and 10 status_503, got %+v", s)
	}
	if s.Identities["blue"] != 40 {
		t.Fatalf("identities %v", s.Identities)
	}
	for _, r := range res.records {
		if !r.OK && (r.Status != 503 || r.Err != "HTTP 503: no endpoints available") {
			t.Fatalf("record %+v", r)
		}
	}
}

func TestRedirectIsAFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	res := loadRun(t, nil, "-url", srv.URL, "-rate", "100", "-max-requests", "3")
	if res.s.Failed != 3 || res.s.FailuresByKind["status_302"] != 3 {
		t.Fatalf("want 3 status_302 (not followed), got %+v", res.s)
	}
}

// delayServer serves podinfo's /delay/{seconds} (bounded by the client going away) and JSON
// elsewhere after sleeping `every` for each request.
func delayServer(every time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := every
		if seconds, found := strings.CutPrefix(r.URL.Path, "/delay/"); found {
			d, _ := time.ParseDuration(seconds + "s")
			wait = d
		}
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, `{"message":"blue"}`)
	}))
}

func TestPathEveryTimeouts(t *testing.T) {
	srv := delayServer(0)
	defer srv.Close()
	res := loadRun(t, nil, "-url", srv.URL+"/", "-rate", "100", "-max-requests", "20", "-timeout", "300ms", "-path-every", "4:/delay/2")
	s := res.s
	if s.OK != 15 || s.Failed != 5 || s.FailuresByKind["timeout"] != 5 {
		t.Fatalf("want 15 ok and 5 timeouts, got %+v", s)
	}
	for _, r := range res.records {
		slow := (r.I+1)%4 == 0
		if slow != (r.Path == "/delay/2") || slow == r.OK {
			t.Fatalf("record %+v", r)
		}
		if slow && (r.LatencyMs < 290 || r.LatencyMs > 2000 || r.Kind != "timeout") {
			t.Fatalf("a timed-out request: %+v", r)
		}
	}
	if s.DurationMs > 2000 {
		t.Fatalf("in-flight requests end at the timeout: the run took %v ms", s.DurationMs)
	}
}

func TestOpenLoop(t *testing.T) {
	// Every response takes 200 ms: a closed loop of one would send 5 a second; the open loop
	// keeps the schedule (50 requests in 0.5 s) with requests in flight at once.
	srv := delayServer(200 * time.Millisecond)
	defer srv.Close()
	res := loadRun(t, nil, "-url", srv.URL, "-rate", "100", "-max-requests", "50", "-mode", "keepalive")
	s := res.s
	if s.OK != 50 {
		t.Fatalf("summary %+v", s)
	}
	if s.AchievedRate < 80 || s.AchievedRate > 101 {
		t.Fatalf("achieved_rate %v, want about 100", s.AchievedRate)
	}
	if s.DurationMs > 3000 {
		t.Fatalf("the run took %v ms: not open loop", s.DurationMs)
	}
	if s.DistinctConns < 10 {
		t.Fatalf("distinct_conns %d: 200 ms at 100/s needs about 20 at once", s.DistinctConns)
	}
	for _, r := range res.records {
		if lag := r.StartMs - r.AtMs; lag < 0 || lag > 500 {
			t.Fatalf("request %d started %v ms after its slot", r.I, lag)
		}
		if r.LatencyMs < 195 {
			t.Fatalf("record %+v", r)
		}
	}
}

func TestInflightCap(t *testing.T) {
	srv := delayServer(time.Second)
	defer srv.Close()
	res := loadRun(t, nil, "-url", srv.URL, "-rate", "100", "-max-requests", "10", "-max-inflight", "2")
	s := res.s
	if s.Sent != 10 || s.OK != 2 || s.FailuresByKind[kindInflightCap] != 8 {
		t.Fatalf("want 2 ok and 8 inflight_cap, got %+v", s)
	}
	if s.AchievedRate > 25 {
		t.Fatalf("achieved_rate %v counts slots that were not sent", s.AchievedRate)
	}
	for _, r := range res.records[2:] {
		if r.Kind != kindInflightCap || r.Conn != 0 || !strings.Contains(r.Err, "2 requests already in flight") {
			t.Fatalf("record %+v", r)
		}
	}
}

func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res := loadRun(t, nil, "-url", "http://"+addr+"/", "-rate", "100", "-max-requests", "5")
	if res.s.Failed != 5 || res.s.FailuresByKind["refused"] != 5 || res.s.DistinctConns != 0 {
		t.Fatalf("want 5 refused, got %+v", res.s)
	}
	if !strings.Contains(res.records[0].Err, "connection refused") || res.records[0].Conn != 0 {
		t.Fatalf("record %+v", res.records[0])
	}
}

func TestReset(t *testing.T) {
	// A server that reads the request and aborts the connection (RST) without answering.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				buf := make([]byte, 4096)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				c.Read(buf)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}(c)
		}
	}()
	res := loadRun(t, nil, "-url", "http://"+l.Addr().String()+"/", "-rate", "100", "-max-requests", "10", "-mode", "new-conn")
	s := res.s
	if s.Failed != 10 || s.FailuresByKind["reset"]+s.FailuresByKind["eof"] != 10 || s.DistinctConns != 10 {
		t.Fatalf("want 10 resets (or EOFs), got %+v", s)
	}
}

func TestStopFile(t *testing.T) {
	srv := blueGreen(1<<30, &remoteAddrs{})
	defer srv.Close()
	stopFile := filepath.Join(t.TempDir(), "stop")
	go func() {
		time.Sleep(300 * time.Millisecond)
		os.WriteFile(stopFile, nil, 0o644)
	}()
	res := loadRun(t, nil, "-url", srv.URL, "-rate", "50", "-duration", "30s", "-stop-file", stopFile)
	s := res.s
	if s.StoppedBy != "stop-file" || s.Failed != 0 || s.Sent < 5 || s.Sent > 40 || s.DurationMs > 3000 || s.Planned != 1500 {
		t.Fatalf("want a run of about 15 requests ended by the stop file, got %+v", s)
	}
}

// The command itself, as a process: SIGTERM stops it gracefully, with the summary and exit 0.
func TestProcessSIGTERM(t *testing.T) {
	srv := delayServer(100 * time.Millisecond)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "records.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-url", srv.URL, "-rate", "100", "-duration", "30s", "-out", out)
	cmd.Env = append(os.Environ(), "LOADCLIENT_TEST_MAIN=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, `{"start_epoch_ms":`) {
		t.Fatalf("start line %q: %v", first, err)
	}
	go io.Copy(io.Discard, stderr)
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("want exit 0 after SIGTERM: %v", err)
	}
	if took := time.Since(sent); took > 3*time.Second {
		t.Fatalf("it took %v to stop", took)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var s summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	// In-flight requests (100 ms each) were finished, not cut off.
	if s.StoppedBy != "signal" || s.Failed != 0 || s.Sent < 20 || s.Sent > 200 {
		t.Fatalf("summary %+v", s)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if records := parseRecords(t, data); len(records) != s.Sent {
		t.Fatalf("%d records for %d sent", len(records), s.Sent)
	}
}

func TestProcessBadFlags(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-url", "http://127.0.0.1:1/", "-duration", "11m")
	cmd.Env = append(os.Environ(), "LOADCLIENT_TEST_MAIN=1")
	output, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("want exit 2, got %v: %s", err, output)
	}
	if !strings.Contains(string(output), "-duration 11m0s: at most 10m0s") {
		t.Fatalf("unclear message: %s", output)
	}
}
