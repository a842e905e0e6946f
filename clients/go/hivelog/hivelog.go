// Package hivelog logs LLM application data (sessions and their model, tool and chain events)
// to a hivelog server, or to any server that speaks the HoneyHive logging API.
//
// It implements the four logging strategies, in the order a team usually adopts them:
//
//  1. Sync LLM ingestion: [Client.StartSession], then [Client.LogModelEvent] after each LLM call
//     (POST /session/start, POST /events/model).
//  2. Sync LLM + tool ingestion: [Client.StartSession], then [Client.LogEvent] for each model,
//     tool or chain event, [Client.UpdateEvent] to enrich one (POST /events, PUT /events).
//  3. Async ingestion: collect one interaction's events and send them in one call when it is
//     done, [Client.LogEventBatch] or [Client.LogModelEventBatch]
//     (POST /events/batch, POST /events/model/batch).
//  4. Async batching: a [Batcher] queues sessions, events and updates in a bounded buffer and a
//     background goroutine sends them in batches, by size and by interval, and on Close.
//
// Event and session ids are generated on the client (UUIDv4) before the first attempt, so every
// request can be retried safely: the server stores an event id once. Requests are retried on
// network errors, 408, 429 and 5xx with exponential backoff, honouring Retry-After.
//
// Module path: github.com/hivelog/hivelog/clients/go/hivelog. Standard library only.
package hivelog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Version of this logger, sent in the User-Agent header.
const Version = "0.1.0"

// DefaultBaseURL is where a local `hivelog serve` listens by default.
const DefaultBaseURL = "http://127.0.0.1:8080"

// Event types of the events a client logs; sessions are started with StartSession.
const (
	TypeModel = "model"
	TypeTool  = "tool"
	TypeChain = "chain"
)

// Config configures a Client. The zero value works against a local hivelog.
type Config struct {
	// BaseURL of the server. Default: $HIVELOG_URL, then $HH_API_URL, then DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". Default: $HIVELOG_API_KEY, then $HH_API_KEY.
	APIKey string
	// Project name sent with every write and export. Default: $HH_PROJECT, then "default".
	Project string
	// Source (environment) of sessions and events, e.g. "production". Default "dev".
	Source string
	// HTTPClient to send with. Default: a client with Timeout.
	HTTPClient *http.Client
	// Timeout of one HTTP attempt when HTTPClient is nil. Default 10s.
	Timeout time.Duration
	// MaxRetries after the first attempt. Default 5; a negative value disables retries.
	MaxRetries int
	// RetryBaseDelay is the first backoff delay, doubled on every retry. Default 250ms.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps one wait, Retry-After included. Default 30s.
	RetryMaxDelay time.Duration
}

// Client sends to the logging routes. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	addr string // host:port of BaseURL, named in errors when it cannot be reached
}

// New returns a Client; unset Config fields take their defaults. It returns an error, and no
// Client, for a BaseURL that is not http(s)://host… or an API key that cannot be sent in an
// HTTP header (a placeholder such as "…" copied from an example, a space, a newline), rather
// than let every request fail later.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = firstNonEmpty(os.Getenv("HIVELOG_URL"), os.Getenv("HH_API_URL"), DefaultBaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	addr, err := address(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		cfg.APIKey = firstNonEmpty(os.Getenv("HIVELOG_API_KEY"), os.Getenv("HH_API_KEY"))
	}
	if err := checkAPIKey(cfg.APIKey); err != nil {
		return nil, err
	}
	if cfg.Project == "" {
		cfg.Project = firstNonEmpty(os.Getenv("HH_PROJECT"), "default")
	}
	if cfg.Source == "" {
		cfg.Source = "dev"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = 250 * time.Millisecond
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = 30 * time.Second
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, http: hc, addr: addr}, nil
}

// address is host:port of an http(s) base URL, the port filled in from the scheme.
func address(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("hivelog: the server URL must be http:// or https://host[:port], got %q", base)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	if u.Scheme == "https" {
		return u.Host + ":443", nil
	}
	return u.Host + ":80", nil
}

// checkAPIKey refuses a key that cannot be a bearer token in an HTTP header: printable ASCII
// with no spaces. The message says which character, never the key itself.
func checkAPIKey(key string) error {
	i := 0
	for _, r := range key {
		i++
		if r < '!' || r > '~' {
			return fmt.Errorf("hivelog: the API key cannot be sent in an HTTP header: character %d of %d "+
				"is %q (U+%04X); a key is printable ASCII with no spaces (is it a placeholder from an example?)",
				i, utf8.RuneCountInString(key), r, r)
		}
	}
	return nil
}

// Project is the project name this client writes to.
func (c *Client) Project() string { return c.cfg.Project }

// ---- wire types ---------------------------------------------------------------------------

// Session is the body of POST /session/start, and the session_properties of a single-session
// batch. SessionID is generated on the client when empty.
type Session struct {
	SessionID      string         `json:"session_id,omitempty"`
	SessionName    string         `json:"session_name"`
	Project        string         `json:"project,omitempty"`
	Source         string         `json:"source,omitempty"`
	Config         map[string]any `json:"config,omitempty"`
	Inputs         map[string]any `json:"inputs,omitempty"`
	Outputs        map[string]any `json:"outputs,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	UserProperties map[string]any `json:"user_properties,omitempty"`
	Metrics        map[string]any `json:"metrics,omitempty"`
	Feedback       map[string]any `json:"feedback,omitempty"`
	StartTime      int64          `json:"start_time,omitempty"` // ms since the epoch; 0 = now
}

// Event is a model, tool or chain event for POST /events and POST /events/batch.
// EventID is generated on the client when empty; ParentID nests it under a chain event (the
// server defaults it to the session).
type Event struct {
	EventID        string         `json:"event_id,omitempty"`
	SessionID      string         `json:"session_id,omitempty"`
	ParentID       string         `json:"parent_id,omitempty"`
	EventType      string         `json:"event_type"` // TypeModel, TypeTool or TypeChain
	EventName      string         `json:"event_name"`
	Project        string         `json:"project,omitempty"`
	Source         string         `json:"source,omitempty"`
	Config         map[string]any `json:"config"`
	Inputs         map[string]any `json:"inputs"`
	Outputs        map[string]any `json:"outputs,omitempty"`
	Error          string         `json:"error,omitempty"`
	StartTime      int64          `json:"start_time,omitempty"` // ms since the epoch; 0 = now
	EndTime        int64          `json:"end_time,omitempty"`   // ms since the epoch
	Duration       float64        `json:"duration"`             // ms
	Metadata       map[string]any `json:"metadata,omitempty"`
	Feedback       map[string]any `json:"feedback,omitempty"`
	Metrics        map[string]any `json:"metrics,omitempty"`
	UserProperties map[string]any `json:"user_properties,omitempty"`
	ChildrenIDs    []string       `json:"children_ids,omitempty"`
}

// ModelEvent is one LLM call in the request/response shape of a provider SDK, for
// POST /events/model and POST /events/model/batch.
type ModelEvent struct {
	EventID         string           `json:"event_id,omitempty"`
	SessionID       string           `json:"session_id,omitempty"`
	ParentID        string           `json:"parent_id,omitempty"`
	EventName       string           `json:"event_name,omitempty"` // default: the model
	Project         string           `json:"project,omitempty"`
	Source          string           `json:"source,omitempty"`
	Model           string           `json:"model"`
	Provider        string           `json:"provider"`
	Messages        []map[string]any `json:"messages"`
	Response        map[string]any   `json:"response"`
	Usage           map[string]any   `json:"usage"` // prompt_tokens, completion_tokens, total_tokens
	Duration        float64          `json:"duration"`
	Cost            *float64         `json:"cost,omitempty"`
	Hyperparameters map[string]any   `json:"hyperparameters,omitempty"`
	Template        []map[string]any `json:"template,omitempty"`
	TemplateInputs  map[string]any   `json:"template_inputs,omitempty"`
	Tools           []map[string]any `json:"tools,omitempty"`
	ToolChoice      any              `json:"tool_choice,omitempty"`
	ResponseFormat  map[string]any   `json:"response_format,omitempty"`
	Error           string           `json:"error,omitempty"`
	StartTime       int64            `json:"start_time,omitempty"` // ms since the epoch; 0 = now
	Config          map[string]any   `json:"config,omitempty"`
	Metadata        map[string]any   `json:"metadata,omitempty"`
	Feedback        map[string]any   `json:"feedback,omitempty"`
	Metrics         map[string]any   `json:"metrics,omitempty"`
	UserProperties  map[string]any   `json:"user_properties,omitempty"`
}

// Update is the body of PUT /events: metadata, feedback, metrics, config and user properties
// merge into the event; outputs replace. EventID may be a session id, to enrich the session.
type Update struct {
	EventID        string         `json:"event_id"`
	Project        string         `json:"project,omitempty"` // optional: hivelog finds the event's project
	Metadata       map[string]any `json:"metadata,omitempty"`
	Feedback       map[string]any `json:"feedback,omitempty"`
	Metrics        map[string]any `json:"metrics,omitempty"`
	Outputs        map[string]any `json:"outputs,omitempty"`
	Config         map[string]any `json:"config,omitempty"`
	UserProperties map[string]any `json:"user_properties,omitempty"`
	Duration       *float64       `json:"duration,omitempty"`
	EndTime        int64          `json:"end_time,omitempty"`
}

// BatchResult is the answer to a batch request.
type BatchResult struct {
	Success   bool     `json:"success"`
	EventIDs  []string `json:"event_ids"`
	SessionID string   `json:"session_id,omitempty"`
}

// Filter is one export filter: Field is a column or dotted path (metadata.cost), Operator
// "is", "is not", "contains", "greater than"…, Type "string", "number", "boolean".
type Filter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
	Type     string `json:"type,omitempty"`
}

// ExportResult is a page of events read back through POST /events/export.
type ExportResult struct {
	Events      []map[string]any `json:"events"`
	TotalEvents int              `json:"totalEvents"`
}

// ---- helpers ------------------------------------------------------------------------------

// NewID returns a random UUIDv4, the form event and session ids take.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("hivelog: no randomness: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Ms is t in milliseconds since the epoch, the unit of start_time and end_time.
func Ms(t time.Time) int64 { return t.UnixMilli() }

// DurationMs is d in milliseconds, the unit of duration.
func DurationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (c *Client) prepareSession(s *Session) {
	if s.SessionID == "" {
		s.SessionID = NewID()
	}
	if s.Project == "" {
		s.Project = c.cfg.Project
	}
	if s.Source == "" {
		s.Source = c.cfg.Source
	}
	if s.SessionName == "" {
		s.SessionName = "session"
	}
	if s.StartTime == 0 {
		s.StartTime = Ms(time.Now())
	}
}

// startOf is the start of an event logged without one: it is logged when it ends, so it
// started duration ms before its end, which is now unless given.
func startOf(end int64, duration float64) int64 {
	if end == 0 {
		end = Ms(time.Now())
	}
	return end - int64(math.Round(duration))
}

func (c *Client) prepareEvent(e *Event) error {
	switch e.EventType {
	case TypeModel, TypeTool, TypeChain:
	default:
		return fmt.Errorf("hivelog: event_type must be model, tool or chain, not %q", e.EventType)
	}
	if e.EventID == "" {
		e.EventID = NewID()
	}
	if e.Project == "" {
		e.Project = c.cfg.Project
	}
	if e.Source == "" {
		e.Source = c.cfg.Source
	}
	if e.EventName == "" {
		e.EventName = e.EventType
	}
	if e.StartTime == 0 {
		e.StartTime = startOf(e.EndTime, e.Duration)
	}
	e.Config = orEmpty(e.Config)
	e.Inputs = orEmpty(e.Inputs)
	return nil
}

func (c *Client) prepareModel(m *ModelEvent) {
	if m.EventID == "" {
		m.EventID = NewID()
	}
	if m.Project == "" {
		m.Project = c.cfg.Project
	}
	if m.Source == "" {
		m.Source = c.cfg.Source
	}
	if m.StartTime == 0 {
		m.StartTime = startOf(0, m.Duration)
	}
	if m.Messages == nil {
		m.Messages = []map[string]any{}
	}
	m.Response = orEmpty(m.Response)
	m.Usage = orEmpty(m.Usage)
}

func (c *Client) prepareUpdate(u *Update) error {
	if u.EventID == "" {
		return errors.New("hivelog: an update needs an event_id")
	}
	return nil
}

// ---- sync API -----------------------------------------------------------------------------

// StartSession starts a session (POST /session/start) and returns its id, which is s.SessionID
// (generated when empty). Pass it as SessionID of the session's events.
func (c *Client) StartSession(ctx context.Context, s *Session) (string, error) {
	c.prepareSession(s)
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/session/start", map[string]any{"session": s}, &out); err != nil {
		return "", err
	}
	if out.SessionID != "" {
		s.SessionID = out.SessionID
	}
	return s.SessionID, nil
}

// LogEvent sends one model, tool or chain event (POST /events) and returns its id.
func (c *Client) LogEvent(ctx context.Context, e *Event) (string, error) {
	if err := c.prepareEvent(e); err != nil {
		return "", err
	}
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/events", map[string]any{"event": e}, &out); err != nil {
		return "", err
	}
	return e.EventID, nil
}

// LogModelEvent sends one LLM call (POST /events/model) and returns its id.
func (c *Client) LogModelEvent(ctx context.Context, m *ModelEvent) (string, error) {
	c.prepareModel(m)
	if err := c.do(ctx, http.MethodPost, "/events/model", map[string]any{"model_event": m}, nil); err != nil {
		return "", err
	}
	return m.EventID, nil
}

// UpdateEvent merges into an event or session (PUT /events).
func (c *Client) UpdateEvent(ctx context.Context, u *Update) error {
	if err := c.prepareUpdate(u); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, "/events", u, nil)
}

type eventBatchBody struct {
	Events            []*Event `json:"events"`
	IsSingleSession   bool     `json:"is_single_session"`
	SessionProperties *Session `json:"session_properties,omitempty"`
}

type modelBatchBody struct {
	ModelEvents       []*ModelEvent `json:"model_events"`
	IsSingleSession   bool          `json:"is_single_session"`
	SessionProperties *Session      `json:"session_properties,omitempty"`
}

// LogEventBatch sends events in one call (POST /events/batch). With a session, all of them go
// into it, and the session is created from its properties (is_single_session); without one,
// each event goes to its own SessionID (or a new session when empty).
func (c *Client) LogEventBatch(ctx context.Context, events []*Event, session *Session) (*BatchResult, error) {
	body := eventBatchBody{Events: events}
	if session != nil {
		c.prepareSession(session)
		body.IsSingleSession = true
		body.SessionProperties = session
	}
	for _, e := range events {
		if session != nil {
			e.SessionID = session.SessionID
		}
		if err := c.prepareEvent(e); err != nil {
			return nil, err
		}
	}
	var out BatchResult
	if err := c.do(ctx, http.MethodPost, "/events/batch", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LogModelEventBatch sends LLM calls in one call (POST /events/model/batch). Without a
// session, each call without a SessionID becomes its own session.
func (c *Client) LogModelEventBatch(ctx context.Context, events []*ModelEvent, session *Session) (*BatchResult, error) {
	body := modelBatchBody{ModelEvents: events}
	if session != nil {
		c.prepareSession(session)
		body.IsSingleSession = true
		body.SessionProperties = session
	}
	for _, m := range events {
		if session != nil {
			m.SessionID = session.SessionID
		}
		c.prepareModel(m)
	}
	var out BatchResult
	if err := c.do(ctx, http.MethodPost, "/events/model/batch", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Export reads events back (POST /events/export), e.g. filtered on session_id.
func (c *Client) Export(ctx context.Context, filters []Filter, limit, page int) (*ExportResult, error) {
	if filters == nil {
		filters = []Filter{}
	}
	if limit <= 0 {
		limit = 1000
	}
	if page <= 0 {
		page = 1
	}
	body := map[string]any{"project": c.cfg.Project, "filters": filters, "limit": limit, "page": page}
	var out ExportResult
	if err := c.do(ctx, http.MethodPost, "/events/export", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ---- HTTP with retries --------------------------------------------------------------------

// APIError is a non-2xx answer.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	Body       string
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
}

func (e *APIError) Error() string {
	return fmt.Sprintf("hivelog: %s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, strings.TrimSpace(e.Body))
}

// Retryable reports whether the request may succeed later (408, 429, 5xx).
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode >= 500
}

// NetworkError is a request that got no HTTP answer: the server could not be reached at Addr
// (nothing listening, a wrong host, a timeout). It is retried like a 503.
type NetworkError struct {
	Method string
	URL    string
	Addr   string // host:port
	Err    error
}

func (e *NetworkError) Error() string {
	cause := e.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	why := cause.Error()
	if errors.Is(cause, syscall.ECONNREFUSED) {
		why = "connection refused (is the server running on this host and port?)"
	}
	return fmt.Sprintf("hivelog: cannot reach %s (%s %s): %s", e.Addr, e.Method, e.URL, why)
}

func (e *NetworkError) Unwrap() error { return e.Err }

func retryable(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.Retryable()
	}
	var bad *badResponse
	if errors.As(err, &bad) {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

type badResponse struct{ err error }

func (b *badResponse) Error() string { return "hivelog: undecodable response: " + b.err.Error() }

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// backoff is the wait before retry number attempt+1: Retry-After when the server gave one,
// else exponential with jitter; capped by RetryMaxDelay.
func (c *Client) backoff(attempt int, err error) time.Duration {
	var d time.Duration
	var api *APIError
	if errors.As(err, &api) && api.RetryAfter > 0 {
		d = api.RetryAfter
	} else {
		d = c.cfg.RetryBaseDelay << uint(attempt)
		if d <= 0 || d > c.cfg.RetryMaxDelay {
			d = c.cfg.RetryMaxDelay
		}
		d = d/2 + time.Duration(mrand.Int63n(int64(d/2)+1))
	}
	if d > c.cfg.RetryMaxDelay {
		d = c.cfg.RetryMaxDelay
	}
	return d
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("hivelog: encode %s %s: %w", method, path, err)
	}
	for attempt := 0; ; attempt++ {
		err = c.once(ctx, method, path, payload, out)
		if err == nil || !retryable(err) || attempt >= c.cfg.MaxRetries {
			return err
		}
		timer := time.NewTimer(c.backoff(attempt, err))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-timer.C:
		}
	}
}

func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, bytes.NewReader(payload))
	if err != nil {
		return &badResponse{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hivelog-go/"+Version)
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &NetworkError{Method: method, URL: c.cfg.BaseURL + path, Addr: c.addr, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{
			Method: method, Path: path, StatusCode: resp.StatusCode, Body: string(data),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return &badResponse{err}
		}
	}
	return nil
}

// ---- async batching -----------------------------------------------------------------------

// ErrBufferFull is returned by a Batcher when its buffer holds MaxBuffer items; the item is
// dropped and counted in Stats.Dropped.
var ErrBufferFull = errors.New("hivelog: batch buffer full, item dropped")

// ErrClosed is returned by a Batcher after Close.
var ErrClosed = errors.New("hivelog: batcher closed")

// BatcherOptions configures a Batcher.
type BatcherOptions struct {
	// BatchSize is the most items per flush request, and the buffer length that triggers a
	// flush. Default 100.
	BatchSize int
	// FlushInterval between timed flushes. Default 1s.
	FlushInterval time.Duration
	// MaxBuffer is the most items waiting to be sent; beyond it Log* returns ErrBufferFull.
	// Default 10000.
	MaxBuffer int
	// OnError, if set, is called from the sender goroutine when a request failed after its
	// retries; its items are dropped and counted in Stats.Failed.
	OnError func(error)
}

// Stats counts a Batcher's items.
type Stats struct {
	Queued  int64 // accepted by Log*/StartSession/Update
	Sent    int64 // acknowledged by the server
	Dropped int64 // refused because the buffer was full
	Failed  int64 // given up on after retries
}

type itemKind int

const (
	kindSession itemKind = iota
	kindEvent
	kindModel
	kindUpdate
)

type item struct {
	kind    itemKind
	session *Session
	event   *Event
	model   *ModelEvent
	update  *Update
}

// Batcher is the async batching strategy: a bounded buffer of sessions, events and updates
// and one background goroutine that sends them in batches when BatchSize items are waiting,
// every FlushInterval, on Flush and on Close. Its methods never block on the network. Do not
// change an item after queuing it: the sender reads it later.
type Batcher struct {
	c    *Client
	opts BatcherOptions

	mu     sync.Mutex
	buf    []item
	closed bool
	stats  Stats

	kick    chan struct{}
	flushes chan chan error
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewBatcher starts a Batcher's sender goroutine; Close it to flush and stop.
func (c *Client) NewBatcher(opts BatcherOptions) *Batcher {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MaxBuffer <= 0 {
		opts.MaxBuffer = 10000
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Batcher{
		c: c, opts: opts,
		kick:    make(chan struct{}, 1),
		flushes: make(chan chan error),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		ctx:     ctx, cancel: cancel,
	}
	go b.run()
	return b
}

// StartSession queues a session and returns its id (s.SessionID, generated when empty). The
// session is created with its first flush: together with its events as one single-session
// batch, or by POST /session/start when no event of it is waiting.
func (b *Batcher) StartSession(s *Session) (string, error) {
	b.c.prepareSession(s)
	return s.SessionID, b.add(item{kind: kindSession, session: s})
}

// LogEvent queues a model, tool or chain event and returns its id.
func (b *Batcher) LogEvent(e *Event) (string, error) {
	if err := b.c.prepareEvent(e); err != nil {
		return "", err
	}
	return e.EventID, b.add(item{kind: kindEvent, event: e})
}

// LogModelEvent queues an LLM call and returns its id.
func (b *Batcher) LogModelEvent(m *ModelEvent) (string, error) {
	b.c.prepareModel(m)
	return m.EventID, b.add(item{kind: kindModel, model: m})
}

// UpdateEvent queues an update; it is sent after the events queued before it.
func (b *Batcher) UpdateEvent(u *Update) error {
	if err := b.c.prepareUpdate(u); err != nil {
		return err
	}
	return b.add(item{kind: kindUpdate, update: u})
}

func (b *Batcher) add(it item) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if len(b.buf) >= b.opts.MaxBuffer {
		b.stats.Dropped++
		b.mu.Unlock()
		return ErrBufferFull
	}
	b.buf = append(b.buf, it)
	b.stats.Queued++
	full := len(b.buf) >= b.opts.BatchSize
	b.mu.Unlock()
	if full {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (b *Batcher) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Pending is the number of items waiting in the buffer.
func (b *Batcher) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

// Flush sends everything queued so far and returns the first error of that flush.
func (b *Batcher) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case b.flushes <- reply:
	case <-b.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting items, sends what is queued and stops the sender. If ctx ends first,
// the sends in progress are abandoned and ctx's error is returned.
func (b *Batcher) Close(ctx context.Context) error {
	b.mu.Lock()
	already := b.closed
	b.closed = true
	b.mu.Unlock()
	if !already {
		close(b.stop)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		b.cancel()
		<-b.done
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.buf); n > 0 {
		return fmt.Errorf("hivelog: %d items not sent", n)
	}
	return nil
}

func (b *Batcher) run() {
	defer close(b.done)
	defer b.cancel()
	ticker := time.NewTicker(b.opts.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			b.sendAll()
		case <-b.kick:
			b.sendAll()
		case reply := <-b.flushes:
			reply <- b.sendAll()
		case <-b.stop:
			b.sendAll()
			return
		}
	}
}

// sendAll sends the buffer chunk by chunk until it is empty; the first error is returned.
func (b *Batcher) sendAll() error {
	var first error
	for b.ctx.Err() == nil {
		b.mu.Lock()
		n := len(b.buf)
		if n > b.opts.BatchSize {
			n = b.opts.BatchSize
		}
		chunk := make([]item, n)
		copy(chunk, b.buf[:n])
		b.buf = append(b.buf[:0:0], b.buf[n:]...)
		b.mu.Unlock()
		if n == 0 {
			break
		}
		if err := b.sendChunk(chunk); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// sendChunk sends one chunk: new sessions with their events (single-session batches), then
// the other events, then model events, then updates, so updates follow what they update.
func (b *Batcher) sendChunk(chunk []item) error {
	var sessions []*Session
	fresh := map[string][]*Event{}
	var events []*Event
	var models []*ModelEvent
	var updates []*Update
	for _, it := range chunk {
		if it.kind == kindSession {
			sessions = append(sessions, it.session)
			fresh[it.session.SessionID] = nil
		}
	}
	for _, it := range chunk {
		switch it.kind {
		case kindEvent:
			if group, ok := fresh[it.event.SessionID]; ok {
				fresh[it.event.SessionID] = append(group, it.event)
			} else {
				events = append(events, it.event)
			}
		case kindModel:
			models = append(models, it.model)
		case kindUpdate:
			updates = append(updates, it.update)
		}
	}
	var first error
	result := func(n int, err error) {
		b.mu.Lock()
		if err == nil {
			b.stats.Sent += int64(n)
		} else {
			b.stats.Failed += int64(n)
		}
		b.mu.Unlock()
		if err != nil {
			if first == nil {
				first = err
			}
			if b.opts.OnError != nil {
				b.opts.OnError(err)
			}
		}
	}
	ctx := b.ctx
	for _, s := range sessions {
		group := fresh[s.SessionID]
		if len(group) == 0 {
			_, err := b.c.StartSession(ctx, s)
			result(1, err)
			continue
		}
		_, err := b.c.LogEventBatch(ctx, group, s)
		result(1+len(group), err)
	}
	if len(events) > 0 {
		_, err := b.c.LogEventBatch(ctx, events, nil)
		result(len(events), err)
	}
	if len(models) > 0 {
		_, err := b.c.LogModelEventBatch(ctx, models, nil)
		result(len(models), err)
	}
	for _, u := range updates {
		result(1, b.c.UpdateEvent(ctx, u))
	}
	return first
}
