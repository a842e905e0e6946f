package hivelog

// These tests start a real `hivelog serve` (HIVELOG_BIN, else the repo's .venv) on a free
// 127.0.0.1 port with a temporary SQLite database, log with every strategy, and read the
// events back through POST /events/export.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var serverURL string

func TestMain(m *testing.M) {
	os.Exit(runWithServer(m))
}

func runWithServer(m *testing.M) int {
	bin := os.Getenv("HIVELOG_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", ".venv", "bin", "hivelog")
	}
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "hivelog binary not found at %s (set HIVELOG_BIN or run `make install`)\n", bin)
		return 1
	}
	dir, err := os.MkdirTemp("", "hivelog-go-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	port := freePort()
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--db", filepath.Join(dir, "hivelog.db"), "--log-level", "warning")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start hivelog:", err)
		return 1
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	serverURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if !waitHealthy(serverURL, 90*time.Second, exited) {
		out, _ := os.ReadFile(logPath)
		fmt.Fprintf(os.Stderr, "hivelog did not become healthy; its log:\n%s\n", out)
		return 1
	}
	code := m.Run()
	if code != 0 {
		out, _ := os.ReadFile(logPath)
		fmt.Fprintf(os.Stderr, "server log:\n%s\n", out)
	}
	return code
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHealthy(base string, limit time.Duration, exited <-chan struct{}) bool {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := hc.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// newClient writes to a project of its own, so tests do not see each other's events.
func newClient(t *testing.T, base string) *Client {
	t.Helper()
	return mustNew(t, Config{
		BaseURL: base, APIKey: "test-key", Project: "go-" + t.Name() + "-" + NewID()[:8],
		Source: "test", RetryBaseDelay: 50 * time.Millisecond,
	})
}

func mustNew(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sessionEvents exports a session's events by id, failing on a duplicate id.
func sessionEvents(t *testing.T, c *Client, sessionID string) map[string]map[string]any {
	t.Helper()
	res, err := c.Export(ctxT(t), []Filter{{Field: "session_id", Operator: "is", Value: sessionID, Type: "string"}}, 1000, 1)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	byID := map[string]map[string]any{}
	for _, e := range res.Events {
		id, _ := e["event_id"].(string)
		if _, dup := byID[id]; dup {
			t.Fatalf("event %s exported twice", id)
		}
		byID[id] = e
	}
	if res.TotalEvents != len(res.Events) {
		t.Fatalf("totalEvents %d, got %d events", res.TotalEvents, len(res.Events))
	}
	return byID
}

func get(e map[string]any, path ...string) any {
	var v any = e
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func expect(t *testing.T, e map[string]any, want any, path ...string) {
	t.Helper()
	got := get(e, path...)
	switch w := want.(type) { // JSON numbers decode as float64
	case int:
		want = float64(w)
	case int64:
		want = float64(w)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s %v: got %v, want %v", get(e, "event_id"), path, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ---- strategy 1: sync LLM ----------------------------------------------------------------

func TestSyncLLM(t *testing.T) {
	c := newClient(t, serverURL)
	ctx := ctxT(t)
	sid, err := c.StartSession(ctx, &Session{SessionName: "chat", UserProperties: map[string]any{"user_id": "u1"}})
	must(t, err)
	cost := 0.0021
	mid, err := c.LogModelEvent(ctx, &ModelEvent{
		SessionID: sid, Model: "gpt-4o-mini", Provider: "openai",
		Messages:        []map[string]any{{"role": "user", "content": "Héllo \"wörld\"\n\t🐝"}},
		Response:        map[string]any{"role": "assistant", "content": "hi"},
		Usage:           map[string]any{"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
		Hyperparameters: map[string]any{"temperature": 0.2},
		Duration:        321.5, Cost: &cost,
	})
	must(t, err)
	events := sessionEvents(t, c, sid)
	if len(events) != 2 {
		t.Fatalf("want session + 1 model event, got %d", len(events))
	}
	s := events[sid]
	expect(t, s, "session", "event_type")
	expect(t, s, "chat", "event_name")
	expect(t, s, "u1", "user_properties", "user_id")
	m := events[mid]
	expect(t, m, "model", "event_type")
	expect(t, m, "gpt-4o-mini", "config", "model")
	expect(t, m, "openai", "config", "provider")
	expect(t, m, sid, "parent_id")
	expect(t, m, "hi", "outputs", "content")
	expect(t, m, 12, "metadata", "prompt_tokens")
	expect(t, m, 15, "metadata", "total_tokens")
	expect(t, m, 321.5, "duration")
	expect(t, m, "test", "source")
	msgs, _ := get(m, "inputs", "chat_history").([]any)
	if len(msgs) != 1 || get(msgs[0].(map[string]any), "content") != "Héllo \"wörld\"\n\t🐝" {
		t.Errorf("chat_history did not round-trip: %v", msgs)
	}
}

// A call logged after it returned, with its duration, ran for the duration just past.
func TestDurationOnlyEndsWhenLogged(t *testing.T) {
	c := newClient(t, serverURL)
	ctx := ctxT(t)
	sid, err := c.StartSession(ctx, &Session{SessionName: "timed"})
	must(t, err)
	before := Ms(time.Now())
	mid, err := c.LogModelEvent(ctx, &ModelEvent{SessionID: sid, Model: "gpt-4o", Duration: 840})
	must(t, err)
	tid, err := c.LogEvent(ctx, &Event{SessionID: sid, EventType: TypeTool, Duration: 120})
	must(t, err)
	after := Ms(time.Now())
	events := sessionEvents(t, c, sid)
	for id, d := range map[string]float64{mid: 840, tid: 120} {
		start, _ := get(events[id], "start_time").(float64)
		end, _ := get(events[id], "end_time").(float64)
		if end-start != d || int64(end) < before-1 || int64(end) > after+1 {
			t.Errorf("event of %v ms: start %v end %v, want it to end between %d and %d", d, start, end, before, after)
		}
	}
}

// ---- strategy 2: sync LLM + tool ----------------------------------------------------------

func TestSyncLLMAndTool(t *testing.T) {
	c := newClient(t, serverURL)
	ctx := ctxT(t)
	sid, err := c.StartSession(ctx, &Session{SessionName: "rag", Metadata: map[string]any{"app": "v1"}})
	must(t, err)
	start := time.Now()
	chainID, err := c.LogEvent(ctx, &Event{
		SessionID: sid, EventType: TypeChain, EventName: "answer",
		Inputs: map[string]any{"question": "why?"}, StartTime: Ms(start), Duration: 40,
	})
	must(t, err)
	toolID, err := c.LogEvent(ctx, &Event{
		SessionID: sid, ParentID: chainID, EventType: TypeTool, EventName: "vector-search",
		Config:   map[string]any{"index": "docs"},
		Inputs:   map[string]any{"query": "why?"},
		Outputs:  map[string]any{"draft": true},
		Metadata: map[string]any{"k": 3}, Duration: DurationMs(12 * time.Millisecond),
	})
	must(t, err)
	modelID, err := c.LogEvent(ctx, &Event{
		SessionID: sid, ParentID: chainID, EventType: TypeModel, EventName: "gpt-4o",
		Config:   map[string]any{"model": "gpt-4o", "provider": "openai"},
		Inputs:   map[string]any{"chat_history": []map[string]any{{"role": "user", "content": "why?"}}},
		Outputs:  map[string]any{"role": "assistant", "content": "because"},
		Metadata: map[string]any{"prompt_tokens": 5, "completion_tokens": 1}, Duration: 25,
	})
	must(t, err)
	must(t, c.UpdateEvent(ctx, &Update{
		EventID: toolID, Metadata: map[string]any{"hits": 2},
		Outputs: map[string]any{"docs": []string{"a", "b"}}, Feedback: map[string]any{"rating": 5},
	}))
	dur := 55.0
	must(t, c.UpdateEvent(ctx, &Update{EventID: sid, Outputs: map[string]any{"answer": "because"},
		Metadata: map[string]any{"done": true}, Duration: &dur}))

	events := sessionEvents(t, c, sid)
	if len(events) != 4 {
		t.Fatalf("want 4 events, got %d", len(events))
	}
	expect(t, events[chainID], "chain", "event_type")
	expect(t, events[chainID], sid, "parent_id")
	expect(t, events[chainID], Ms(start), "start_time")
	tool := events[toolID]
	expect(t, tool, "tool", "event_type")
	expect(t, tool, chainID, "parent_id")
	expect(t, tool, "docs", "config", "index")
	expect(t, tool, 3, "metadata", "k")    // kept: metadata merges
	expect(t, tool, 2, "metadata", "hits") // added
	expect(t, tool, 5, "feedback", "rating")
	expect(t, tool, nil, "outputs", "draft") // outputs replace
	expect(t, tool, "[a b]", "outputs", "docs")
	expect(t, events[modelID], chainID, "parent_id")
	expect(t, events[modelID], "because", "outputs", "content")
	expect(t, events[sid], "v1", "metadata", "app")
	expect(t, events[sid], true, "metadata", "done")
	expect(t, events[sid], "because", "outputs", "answer")
	expect(t, events[sid], 55, "duration")
}

// ---- strategy 3: async, one batch per finished interaction ---------------------------------

func TestAsyncBatchCalls(t *testing.T) {
	c := newClient(t, serverURL)
	ctx := ctxT(t)
	// Collected during the interaction, sent in one call when it is done.
	session := &Session{SessionName: "interaction"}
	chain := &Event{EventID: NewID(), EventType: TypeChain, EventName: "pipeline"}
	tool := &Event{ParentID: chain.EventID, EventType: TypeTool, EventName: "lookup",
		Inputs: map[string]any{"id": 7}, Outputs: map[string]any{"found": true}}
	res, err := c.LogEventBatch(ctx, []*Event{chain, tool}, session)
	must(t, err)
	if res.SessionID != session.SessionID || len(res.EventIDs) != 2 {
		t.Fatalf("batch result %+v", res)
	}
	events := sessionEvents(t, c, session.SessionID)
	if len(events) != 3 {
		t.Fatalf("want session + 2, got %d", len(events))
	}
	expect(t, events[session.SessionID], "interaction", "event_name")
	expect(t, events[tool.EventID], chain.EventID, "parent_id")
	expect(t, events[chain.EventID], session.SessionID, "parent_id")

	// Model events without a session: each becomes its own session.
	m1 := &ModelEvent{Model: "m", Provider: "p", Response: map[string]any{"content": "1"}}
	m2 := &ModelEvent{Model: "m", Provider: "p", Response: map[string]any{"content": "2"}}
	res, err = c.LogModelEventBatch(ctx, []*ModelEvent{m1, m2}, nil)
	must(t, err)
	if len(res.EventIDs) != 2 || res.EventIDs[0] != m1.EventID || res.EventIDs[1] != m2.EventID {
		t.Fatalf("model batch result %+v", res)
	}
	all, err := c.Export(ctx, []Filter{{Field: "event_type", Operator: "is", Value: "model", Type: "string"}}, 100, 1)
	must(t, err)
	sessions := map[any]bool{}
	for _, e := range all.Events {
		sessions[e["session_id"]] = true
	}
	if len(all.Events) != 2 || len(sessions) != 2 {
		t.Errorf("want 2 model events in 2 sessions, got %d in %d", len(all.Events), len(sessions))
	}

	// Model events grouped into one session.
	grouped := &Session{SessionName: "grouped"}
	_, err = c.LogModelEventBatch(ctx, []*ModelEvent{{Model: "m", Provider: "p"}, {Model: "m", Provider: "p"}}, grouped)
	must(t, err)
	if n := len(sessionEvents(t, c, grouped.SessionID)); n != 3 {
		t.Errorf("want session + 2 model events, got %d", n)
	}
}

// ---- strategy 4: async batching ------------------------------------------------------------

func TestBatcher(t *testing.T) {
	c := newClient(t, serverURL)
	b := c.NewBatcher(BatcherOptions{BatchSize: 7, FlushInterval: 50 * time.Millisecond})
	type want struct{ sid, chain, tool, model, llm string }
	var sessions []want
	for i := 0; i < 10; i++ {
		var w want
		var err error
		w.sid, err = b.StartSession(&Session{SessionName: fmt.Sprint("s", i)})
		must(t, err)
		w.chain, err = b.LogEvent(&Event{SessionID: w.sid, EventType: TypeChain, EventName: "turn"})
		must(t, err)
		w.tool, err = b.LogEvent(&Event{SessionID: w.sid, ParentID: w.chain, EventType: TypeTool,
			EventName: "search", Metadata: map[string]any{"a": 1}, Outputs: map[string]any{"old": 1}})
		must(t, err)
		w.model, err = b.LogEvent(&Event{SessionID: w.sid, ParentID: w.chain, EventType: TypeModel, EventName: "llm"})
		must(t, err)
		w.llm, err = b.LogModelEvent(&ModelEvent{SessionID: w.sid, ParentID: w.chain, Model: "gpt", Provider: "openai",
			Usage: map[string]any{"prompt_tokens": i}})
		must(t, err)
		must(t, b.UpdateEvent(&Update{EventID: w.tool, Metadata: map[string]any{"b": i}, Outputs: map[string]any{"new": i}}))
		sessions = append(sessions, w)
	}
	ctx := ctxT(t)
	must(t, b.Close(ctx))
	st := b.Stats()
	if st.Queued != 60 || st.Sent != 60 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := b.LogEvent(&Event{EventType: TypeTool}); !errors.Is(err, ErrClosed) {
		t.Errorf("log after close: %v", err)
	}
	for i, w := range sessions {
		events := sessionEvents(t, c, w.sid)
		if len(events) != 5 {
			t.Fatalf("session %d: want 5 events, got %d", i, len(events))
		}
		expect(t, events[w.sid], fmt.Sprint("s", i), "event_name")
		expect(t, events[w.chain], w.sid, "parent_id")
		for _, id := range []string{w.tool, w.model, w.llm} {
			expect(t, events[id], w.chain, "parent_id")
		}
		expect(t, events[w.tool], 1, "metadata", "a")
		expect(t, events[w.tool], i, "metadata", "b")
		expect(t, events[w.tool], i, "outputs", "new")
		expect(t, events[w.tool], nil, "outputs", "old")
		expect(t, events[w.llm], "model", "event_type")
		expect(t, events[w.llm], i, "metadata", "prompt_tokens")
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestBatcherFlushesByIntervalAndSize(t *testing.T) {
	c := newClient(t, serverURL)
	ctx := ctxT(t)
	count := func() bool {
		res, err := c.Export(ctx, nil, 100, 1)
		return err == nil && res.TotalEvents > 0
	}

	byTime := c.NewBatcher(BatcherOptions{BatchSize: 1000, FlushInterval: 100 * time.Millisecond})
	_, err := byTime.LogEvent(&Event{EventType: TypeTool, EventName: "timed"})
	must(t, err)
	waitFor(t, 10*time.Second, "the interval flush", count)
	must(t, byTime.Close(ctx))

	c2 := newClient(t, serverURL)
	bySize := c2.NewBatcher(BatcherOptions{BatchSize: 3, FlushInterval: time.Hour})
	for i := 0; i < 3; i++ {
		_, err := bySize.LogEvent(&Event{EventType: TypeTool, EventName: "sized"})
		must(t, err)
	}
	waitFor(t, 10*time.Second, "the size flush", func() bool {
		res, err := c2.Export(ctx, nil, 100, 1)
		// 3 tools, each in a new session of its own (no session id given: the server makes one).
		return err == nil && res.TotalEvents >= 3
	})
	must(t, bySize.Close(ctx))
}

func TestBatcherBoundedBuffer(t *testing.T) {
	c := newClient(t, serverURL)
	b := c.NewBatcher(BatcherOptions{BatchSize: 100, MaxBuffer: 5, FlushInterval: time.Hour})
	var full int
	for i := 0; i < 8; i++ {
		if _, err := b.LogEvent(&Event{EventType: TypeTool, EventName: "x"}); errors.Is(err, ErrBufferFull) {
			full++
		} else {
			must(t, err)
		}
	}
	if full != 3 || b.Pending() != 5 {
		t.Fatalf("full %d pending %d", full, b.Pending())
	}
	must(t, b.Flush(ctxT(t)))
	must(t, b.Close(ctxT(t)))
	if st := b.Stats(); st.Sent != 5 || st.Dropped != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// ---- retries -------------------------------------------------------------------------------

// stub forwards to the real server, except that it answers the first request with
// 503 + Retry-After: 1 without forwarding, and forwards the second but answers 502, as if the
// response were lost. It records when each request arrived.
type stub struct {
	mu    sync.Mutex
	times []time.Time
	paths []string
	proxy *httputil.ReverseProxy
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.times)
	s.times = append(s.times, time.Now())
	s.paths = append(s.paths, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	switch n {
	case 0:
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"message":"overloaded"}`, http.StatusServiceUnavailable)
	case 1:
		rec := httptest.NewRecorder()
		s.proxy.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			http.Error(w, "upstream failed", rec.Code)
			return
		}
		http.Error(w, "response lost", http.StatusBadGateway)
	default:
		s.proxy.ServeHTTP(w, r)
	}
}

func TestBatcherRetriesOnceOnly(t *testing.T) {
	target, _ := url.Parse(serverURL)
	st := &stub{proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(st)
	defer srv.Close()

	c := newClient(t, srv.URL)
	var errs []error
	b := c.NewBatcher(BatcherOptions{BatchSize: 50, FlushInterval: time.Hour,
		OnError: func(err error) { errs = append(errs, err) }})
	sid, err := b.StartSession(&Session{SessionName: "retried"})
	must(t, err)
	ids := map[string]bool{sid: true}
	for i := 0; i < 20; i++ {
		id, err := b.LogEvent(&Event{SessionID: sid, EventType: TypeTool, EventName: fmt.Sprint("t", i)})
		must(t, err)
		ids[id] = true
	}
	must(t, b.Close(ctxT(t)))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	st.mu.Lock()
	times, paths := st.times, st.paths
	st.mu.Unlock()
	if len(times) != 3 {
		t.Fatalf("want 3 attempts (503, lost answer, success), got %v", paths)
	}
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 not honoured, retried after %v", gap)
	}
	for _, p := range paths {
		if p != "POST /events/batch" {
			t.Errorf("unexpected request %s", p)
		}
	}
	events := sessionEvents(t, mustNew(t, Config{BaseURL: serverURL, Project: c.Project()}), sid)
	if len(events) != len(ids) {
		t.Fatalf("want %d events once each, got %d", len(ids), len(events))
	}
	for id := range ids {
		if events[id] == nil {
			t.Errorf("event %s missing", id)
		}
	}
}

// Logging starts before the server is up: connections are refused, then retried.
func TestSyncRetriesUntilServerIsUp(t *testing.T) {
	port := freePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := newClient(t, base)
	target, _ := url.Parse(serverURL)
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	defer srv.Close()
	go func() {
		time.Sleep(600 * time.Millisecond)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			_ = srv.Serve(l)
		}
	}()
	ctx := ctxT(t)
	sid, err := c.StartSession(ctx, &Session{SessionName: "late server"})
	must(t, err)
	_, err = c.LogEvent(ctx, &Event{SessionID: sid, EventType: TypeTool, EventName: "late"})
	must(t, err)
	if n := len(sessionEvents(t, c, sid)); n != 2 {
		t.Fatalf("want 2 events, got %d", n)
	}
}

func TestNoRetryOnClientError(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, `{"message":"bad"}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	_, err := c.LogEvent(ctxT(t), &Event{EventType: TypeTool})
	var api *APIError
	mu.Lock()
	defer mu.Unlock()
	if !errors.As(err, &api) || api.StatusCode != 400 || hits != 1 {
		t.Fatalf("err %v hits %d", err, hits)
	}
}

// ---- units ---------------------------------------------------------------------------------

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"": 0, "1": time.Second, "2.5": 2500 * time.Millisecond, "-3": 0, "soon": 0,
		now.Add(3 * time.Second).Format(http.TimeFormat): 3 * time.Second,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffCapsAndHonoursRetryAfter(t *testing.T) {
	c := mustNew(t, Config{RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: time.Second})
	for attempt := 0; attempt < 40; attempt++ {
		if d := c.backoff(attempt, errors.New("x")); d <= 0 || d > time.Second {
			t.Fatalf("attempt %d: %v", attempt, d)
		}
	}
	if d := c.backoff(0, &APIError{StatusCode: 503, RetryAfter: 700 * time.Millisecond}); d != 700*time.Millisecond {
		t.Errorf("Retry-After ignored: %v", d)
	}
	if d := c.backoff(0, &APIError{StatusCode: 503, RetryAfter: time.Minute}); d != time.Second {
		t.Errorf("Retry-After not capped: %v", d)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestRejectsUnknownEventType(t *testing.T) {
	c := mustNew(t, Config{BaseURL: "http://127.0.0.1:1"})
	if _, err := c.LogEvent(context.Background(), &Event{EventType: "session"}); err == nil {
		t.Fatal("want an error for event_type session")
	}
}

// A server that never recovers: Close gives up when its context ends, and counts the loss.
func TestBatcherCloseIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := mustNew(t, Config{BaseURL: srv.URL, MaxRetries: 100})
	var failures int
	var mu sync.Mutex
	b := c.NewBatcher(BatcherOptions{FlushInterval: time.Hour, OnError: func(error) {
		mu.Lock()
		failures++
		mu.Unlock()
	}})
	for i := 0; i < 3; i++ {
		_, err := b.LogEvent(&Event{EventType: TypeTool, EventName: "doomed"})
		must(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("close took %v", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if st := b.Stats(); st.Failed != 3 || st.Sent != 0 || failures != 1 {
		t.Fatalf("stats %+v, OnError calls %d", st, failures)
	}
}

// A key that cannot be an HTTP header value is refused by New, with a message that says why.
func TestNewRefusesAKeyThatCannotBeAHeader(t *testing.T) {
	for _, key := range []string{"…", "hl_abc…", "my key", "hl_abc\r\nX-Evil: 1", "clé"} {
		c, err := New(Config{BaseURL: "http://127.0.0.1:1", APIKey: key})
		if c != nil || err == nil || !strings.Contains(err.Error(), "API key cannot be sent in an HTTP header") {
			t.Fatalf("key %q: client %v, error %v", key, c, err)
		}
	}
	t.Setenv("HIVELOG_API_KEY", "key…")
	_, err := New(Config{BaseURL: "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "character 4 of 4 is '…' (U+2026)") {
		t.Fatalf("key from the environment: %v", err)
	}
	if _, err := New(Config{BaseURL: "127.0.0.1:8080"}); err == nil {
		t.Fatal("want an error for a URL without a scheme")
	}
	mustNew(t, Config{BaseURL: "http://127.0.0.1:1", APIKey: "hl_0123abcd_A-b.c~d+e/f="})
}

// A server that cannot be reached is named, host and port, in the error.
func TestUnreachableServerIsNamed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := mustNew(t, Config{BaseURL: "http://" + addr, MaxRetries: -1})
	_, err = c.LogEvent(context.Background(), &Event{EventType: TypeTool, EventName: "t"})
	var ne *NetworkError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "cannot reach "+addr) ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want an error naming %s: %v", addr, err)
	}
}
