/*
 * hivelog Java logger: one file, Java 17, JDK only (java.net.http).
 *
 * Logs LLM application data (sessions and their model, tool and chain events) to a hivelog
 * server, or to any server that speaks the HoneyHive logging API. Copy this file into your
 * sources (change the package line to fit) and see clients/java/README.md.
 *
 * The four logging strategies, in the order a team usually adopts them:
 *   1. Sync LLM:          startSession, then logModelEvent after each LLM call
 *                          (POST /session/start, POST /events/model)
 *   2. Sync LLM + tool:   startSession, then logEvent for model, tool and chain events,
 *                          updateEvent to enrich one (POST /events, PUT /events)
 *   3. Async:             collect one interaction's events, send them in one call when it is done:
 *                          logEventBatch / logModelEventBatch (POST /events/batch, /events/model/batch)
 *   4. Async batching:    a Batcher queues sessions, events and updates in a bounded buffer; a
 *                          background thread sends them in batches by size, by interval and on close.
 *
 * Event and session ids are generated on the client (UUIDv4) before the first attempt, so every
 * request can be retried safely: the server stores an event id once. Requests are retried on
 * connection errors, 408, 429 and 5xx with exponential backoff, honouring Retry-After.
 */
package hivelog;

import java.io.IOException;
import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/** A client of the hivelog / HoneyHive logging routes. Thread-safe. */
public final class HivelogLogger {
    public static final String VERSION = "0.1.0";
    public static final String DEFAULT_BASE_URL = "http://127.0.0.1:8080";

    public static final String MODEL = "model";
    public static final String TOOL = "tool";
    public static final String CHAIN = "chain";

    private final String baseUrl;
    private final String address; // host:port of baseUrl, named when it cannot be reached
    private final String apiKey;
    private final String project;
    private final String source;
    private final Duration timeout;
    private final int maxRetries;
    private final Duration retryBaseDelay;
    private final Duration retryMaxDelay;
    private final HttpClient http;

    private HivelogLogger(Builder b) {
        this.baseUrl = stripSlash(firstNonEmpty(b.baseUrl, System.getenv("HIVELOG_URL"),
                System.getenv("HH_API_URL"), DEFAULT_BASE_URL));
        this.address = address(baseUrl);
        this.apiKey = firstNonEmpty(b.apiKey, System.getenv("HIVELOG_API_KEY"), System.getenv("HH_API_KEY"));
        checkApiKey(apiKey);
        this.project = firstNonEmpty(b.project, System.getenv("HH_PROJECT"), "default");
        this.source = firstNonEmpty(b.source, "dev");
        this.timeout = b.timeout;
        this.maxRetries = Math.max(0, b.maxRetries);
        this.retryBaseDelay = b.retryBaseDelay;
        this.retryMaxDelay = b.retryMaxDelay;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Configuration; unset values take defaults (environment, then a local hivelog). */
    public static final class Builder {
        private String baseUrl;
        private String apiKey;
        private String project;
        private String source;
        private Duration timeout = Duration.ofSeconds(10);
        private int maxRetries = 5;
        private Duration retryBaseDelay = Duration.ofMillis(250);
        private Duration retryMaxDelay = Duration.ofSeconds(30);

        /** Server address. Default $HIVELOG_URL, then $HH_API_URL, then http://127.0.0.1:8080. */
        public Builder baseUrl(String v) { baseUrl = v; return this; }
        /**
         * Sent as "Authorization: Bearer key". Default $HIVELOG_API_KEY, then $HH_API_KEY. {@link #build()}
         * refuses a key that cannot be sent in an HTTP header (IllegalArgumentException).
         */
        public Builder apiKey(String v) { apiKey = v; return this; }
        /** Project name sent with every write and export. Default $HH_PROJECT, then "default". */
        public Builder project(String v) { project = v; return this; }
        /** Source (environment) of sessions and events, e.g. "production". Default "dev". */
        public Builder source(String v) { source = v; return this; }
        /** Timeout of one HTTP attempt. Default 10 s. */
        public Builder timeout(Duration v) { timeout = v; return this; }
        /** Retries after the first attempt. Default 5; 0 disables retries. */
        public Builder maxRetries(int v) { maxRetries = v; return this; }
        /** First backoff delay, doubled on every retry. Default 250 ms. */
        public Builder retryBaseDelay(Duration v) { retryBaseDelay = v; return this; }
        /** Cap of one wait, Retry-After included. Default 30 s. */
        public Builder retryMaxDelay(Duration v) { retryMaxDelay = v; return this; }

        public HivelogLogger build() { return new HivelogLogger(this); }
    }

    public String project() { return project; }

    // ---- helpers ------------------------------------------------------------------------------

    /** A random UUIDv4, the form event and session ids take. */
    public static String newId() { return UUID.randomUUID().toString(); }

    /** Milliseconds since the epoch, the unit of start_time and end_time. */
    public static long nowMs() { return System.currentTimeMillis(); }

    /** An insertion-ordered map from alternating keys and values: map("role", "user", "content", "hi"). */
    public static Map<String, Object> map(Object... keysAndValues) {
        if (keysAndValues.length % 2 != 0) throw new IllegalArgumentException("map needs key, value pairs");
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) m.put(String.valueOf(keysAndValues[i]), keysAndValues[i + 1]);
        return m;
    }

    private static String firstNonEmpty(String... values) {
        for (String v : values) if (v != null && !v.isEmpty()) return v;
        return null;
    }

    /** host:port of an http(s) URL, the port filled in from the scheme; refuses anything else. */
    static String address(String url) {
        URI u;
        try {
            u = new URI(url);
        } catch (java.net.URISyntaxException e) {
            u = null;
        }
        if (u == null || u.getHost() == null || !("http".equals(u.getScheme()) || "https".equals(u.getScheme()))) {
            throw new IllegalArgumentException("hivelog: the server URL must be http:// or https://host[:port], got \""
                    + url + "\"");
        }
        int port = u.getPort() != -1 ? u.getPort() : "https".equals(u.getScheme()) ? 443 : 80;
        return u.getHost() + ":" + port;
    }

    /**
     * Refuses a key that cannot be a bearer token in an HTTP header (printable ASCII, no spaces):
     * a placeholder such as "…" copied from an example would otherwise fail every request. The
     * message says which character, never the key itself.
     */
    static void checkApiKey(String key) {
        if (key == null) return;
        int n = key.codePointCount(0, key.length());
        int i = 0;
        for (int k = 0; k < key.length(); ) {
            int cp = key.codePointAt(k);
            k += Character.charCount(cp);
            i++;
            if (cp < '!' || cp > '~') {
                throw new IllegalArgumentException(String.format(
                        "hivelog: the API key cannot be sent in an HTTP header: character %d of %d is '%s' (U+%04X); "
                        + "a key is printable ASCII with no spaces (is it a placeholder from an example?)",
                        i, n, new String(Character.toChars(cp)), cp));
            }
        }
    }

    /** A network failure in words, with the address: Java's own messages are often empty. */
    private String unreachable(String method, String path, IOException e) {
        String why;
        if (e instanceof java.net.ConnectException) {
            why = "connection refused (is the server running on this host and port?)";
        } else if (e instanceof java.net.http.HttpTimeoutException) {
            why = "no answer before the timeout";
        } else {
            why = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        }
        return "hivelog: cannot reach " + address + " (" + method + " " + baseUrl + path + "): " + why;
    }

    private static String stripSlash(String s) {
        while (s.endsWith("/")) s = s.substring(0, s.length() - 1);
        return s;
    }

    // ---- wire objects -------------------------------------------------------------------------

    /** Fields of a wire object, in insertion order; set(key, value) reaches any field. */
    public abstract static class Body<T extends Body<T>> {
        final Map<String, Object> fields = new LinkedHashMap<>();

        abstract T self();

        /** Sets any wire field by its JSON name (null removes it). */
        public T set(String key, Object value) {
            if (value == null) fields.remove(key); else fields.put(key, value);
            return self();
        }

        public Object get(String key) { return fields.get(key); }

        String str(String key) { Object v = fields.get(key); return v == null ? null : v.toString(); }

        void putIfAbsent(String key, Object value) {
            if (fields.get(key) == null || "".equals(fields.get(key))) fields.put(key, value);
        }

        /** A copy of the fields, as sent. */
        public Map<String, Object> toMap() { return new LinkedHashMap<>(fields); }

        @Override public String toString() { return Json.write(fields); }
    }

    /** A session: the body of POST /session/start and the session_properties of a batch. */
    public static final class Session extends Body<Session> {
        public Session(String sessionName) { set("session_name", sessionName); }
        @Override Session self() { return this; }
        public Session sessionId(String v) { return set("session_id", v); }
        public String sessionId() { return str("session_id"); }
        public Session source(String v) { return set("source", v); }
        public Session project(String v) { return set("project", v); }
        public Session config(Map<String, ?> v) { return set("config", v); }
        public Session inputs(Map<String, ?> v) { return set("inputs", v); }
        public Session outputs(Map<String, ?> v) { return set("outputs", v); }
        public Session metadata(Map<String, ?> v) { return set("metadata", v); }
        public Session userProperties(Map<String, ?> v) { return set("user_properties", v); }
        public Session metrics(Map<String, ?> v) { return set("metrics", v); }
        public Session feedback(Map<String, ?> v) { return set("feedback", v); }
        public Session startTime(long ms) { return set("start_time", ms); }
    }

    /** A model, tool or chain event for POST /events and /events/batch. */
    public static final class Event extends Body<Event> {
        public Event(String eventType, String eventName) {
            set("event_type", eventType);
            set("event_name", eventName);
        }
        public static Event model(String name) { return new Event(MODEL, name); }
        public static Event tool(String name) { return new Event(TOOL, name); }
        public static Event chain(String name) { return new Event(CHAIN, name); }
        @Override Event self() { return this; }
        public Event eventId(String v) { return set("event_id", v); }
        public String eventId() { return str("event_id"); }
        public Event sessionId(String v) { return set("session_id", v); }
        public String sessionId() { return str("session_id"); }
        /** The enclosing chain event; the server defaults it to the session. */
        public Event parentId(String v) { return set("parent_id", v); }
        public Event source(String v) { return set("source", v); }
        public Event project(String v) { return set("project", v); }
        public Event config(Map<String, ?> v) { return set("config", v); }
        public Event inputs(Map<String, ?> v) { return set("inputs", v); }
        public Event outputs(Map<String, ?> v) { return set("outputs", v); }
        public Event metadata(Map<String, ?> v) { return set("metadata", v); }
        public Event feedback(Map<String, ?> v) { return set("feedback", v); }
        public Event metrics(Map<String, ?> v) { return set("metrics", v); }
        public Event userProperties(Map<String, ?> v) { return set("user_properties", v); }
        public Event error(String v) { return set("error", v); }
        /** Milliseconds since the epoch; default now. */
        public Event startTime(long ms) { return set("start_time", ms); }
        public Event endTime(long ms) { return set("end_time", ms); }
        /** Milliseconds. */
        public Event duration(double ms) { return set("duration", ms); }
    }

    /** One LLM call in a provider SDK's request/response shape, for POST /events/model(/batch). */
    public static final class ModelEvent extends Body<ModelEvent> {
        public ModelEvent(String model, String provider) {
            set("model", model);
            set("provider", provider);
        }
        @Override ModelEvent self() { return this; }
        public ModelEvent eventId(String v) { return set("event_id", v); }
        public String eventId() { return str("event_id"); }
        public ModelEvent sessionId(String v) { return set("session_id", v); }
        public String sessionId() { return str("session_id"); }
        public ModelEvent parentId(String v) { return set("parent_id", v); }
        public ModelEvent eventName(String v) { return set("event_name", v); }
        public ModelEvent source(String v) { return set("source", v); }
        public ModelEvent project(String v) { return set("project", v); }
        public ModelEvent messages(List<? extends Map<String, ?>> v) { return set("messages", v); }
        public ModelEvent response(Map<String, ?> v) { return set("response", v); }
        /** prompt_tokens, completion_tokens, total_tokens. */
        public ModelEvent usage(Map<String, ?> v) { return set("usage", v); }
        public ModelEvent duration(double ms) { return set("duration", ms); }
        public ModelEvent cost(double v) { return set("cost", v); }
        public ModelEvent hyperparameters(Map<String, ?> v) { return set("hyperparameters", v); }
        public ModelEvent template(List<? extends Map<String, ?>> v) { return set("template", v); }
        public ModelEvent templateInputs(Map<String, ?> v) { return set("template_inputs", v); }
        public ModelEvent tools(List<? extends Map<String, ?>> v) { return set("tools", v); }
        public ModelEvent error(String v) { return set("error", v); }
        public ModelEvent startTime(long ms) { return set("start_time", ms); }
        public ModelEvent config(Map<String, ?> v) { return set("config", v); }
        public ModelEvent metadata(Map<String, ?> v) { return set("metadata", v); }
        public ModelEvent userProperties(Map<String, ?> v) { return set("user_properties", v); }
    }

    /** PUT /events: metadata, feedback, metrics, config, user_properties merge; outputs replace. */
    public static final class Update extends Body<Update> {
        /** eventId may be a session id, to enrich the session. */
        public Update(String eventId) { set("event_id", eventId); }
        @Override Update self() { return this; }
        public String eventId() { return str("event_id"); }
        public Update metadata(Map<String, ?> v) { return set("metadata", v); }
        public Update feedback(Map<String, ?> v) { return set("feedback", v); }
        public Update metrics(Map<String, ?> v) { return set("metrics", v); }
        public Update outputs(Map<String, ?> v) { return set("outputs", v); }
        public Update config(Map<String, ?> v) { return set("config", v); }
        public Update userProperties(Map<String, ?> v) { return set("user_properties", v); }
        public Update duration(double ms) { return set("duration", ms); }
        public Update endTime(long ms) { return set("end_time", ms); }
    }

    /** The answer to a batch request. */
    public record BatchResult(List<String> eventIds, String sessionId) {}

    /** A page of events read back through POST /events/export. */
    public record ExportResult(List<Map<String, Object>> events, long totalEvents) {}

    /** A failed request: status is the HTTP status, or 0 when no answer arrived. */
    public static final class HivelogException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final int status;
        private final String body;
        private final transient Duration retryAfter;

        public HivelogException(String message, int status, String body, Duration retryAfter, Throwable cause) {
            super(message, cause);
            this.status = status;
            this.body = body;
            this.retryAfter = retryAfter;
        }

        public int status() { return status; }
        public String body() { return body; }
        public Duration retryAfter() { return retryAfter; }

        /** True for a lost connection, 408, 429 and 5xx. */
        public boolean retryable() {
            return status == 0 || status == 408 || status == 429 || status >= 500;
        }
    }

    private void prepare(Session s) {
        s.putIfAbsent("session_id", newId());
        s.putIfAbsent("project", project);
        s.putIfAbsent("source", source);
        s.putIfAbsent("session_name", "session");
        s.putIfAbsent("start_time", nowMs());
    }

    /** An event is logged when it ends: with no start, it started `duration` ms before its
     *  end, which is now unless given. */
    private static long startOf(Body<?> fields) {
        Object end = fields.get("end_time");
        Object duration = fields.get("duration");
        long endMs = end instanceof Number n ? n.longValue() : nowMs();
        return endMs - (duration instanceof Number d ? Math.round(d.doubleValue()) : 0L);
    }

    private void prepare(Event e) {
        Object type = e.get("event_type");
        if (!MODEL.equals(type) && !TOOL.equals(type) && !CHAIN.equals(type)) {
            throw new IllegalArgumentException("event_type must be model, tool or chain, not " + type);
        }
        e.putIfAbsent("event_id", newId());
        e.putIfAbsent("project", project);
        e.putIfAbsent("source", source);
        e.putIfAbsent("event_name", type);
        e.putIfAbsent("start_time", startOf(e));
        e.putIfAbsent("config", new LinkedHashMap<String, Object>());
        e.putIfAbsent("inputs", new LinkedHashMap<String, Object>());
        e.putIfAbsent("duration", 0);
    }

    private void prepare(ModelEvent m) {
        m.putIfAbsent("event_id", newId());
        m.putIfAbsent("project", project);
        m.putIfAbsent("source", source);
        m.putIfAbsent("start_time", startOf(m));
        m.putIfAbsent("messages", new ArrayList<Object>());
        m.putIfAbsent("response", new LinkedHashMap<String, Object>());
        m.putIfAbsent("usage", new LinkedHashMap<String, Object>());
        m.putIfAbsent("duration", 0);
    }

    private void prepare(Update u) {
        if (u.eventId() == null || u.eventId().isEmpty()) throw new IllegalArgumentException("an update needs an event_id");
    }

    // ---- sync API -----------------------------------------------------------------------------

    /** POST /session/start; returns the session id (generated on the client when unset). */
    public String startSession(Session s) {
        prepare(s);
        Object out = request("POST", "/session/start", map("session", s.fields));
        Object id = out instanceof Map<?, ?> m ? m.get("session_id") : null;
        if (id instanceof String sid && !sid.isEmpty()) s.sessionId(sid);
        return s.sessionId();
    }

    /** POST /events; returns the event id. */
    public String logEvent(Event e) {
        prepare(e);
        request("POST", "/events", map("event", e.fields));
        return e.eventId();
    }

    /** POST /events/model; returns the event id. */
    public String logModelEvent(ModelEvent m) {
        prepare(m);
        request("POST", "/events/model", map("model_event", m.fields));
        return m.eventId();
    }

    /** PUT /events. */
    public void updateEvent(Update u) {
        prepare(u);
        request("PUT", "/events", u.fields);
    }

    /**
     * POST /events/batch. With a session, all events go into it and it is created from its
     * properties (is_single_session); with null, each event goes to its own session_id (or to a
     * new session when it has none).
     */
    public BatchResult logEventBatch(List<Event> events, Session session) {
        List<Object> items = new ArrayList<>();
        for (Event e : events) {
            if (session != null) {
                prepare(session);
                e.sessionId(session.sessionId());
            }
            prepare(e);
            items.add(e.fields);
        }
        return batch("/events/batch", "events", items, session);
    }

    /** POST /events/model/batch; without a session each call without a session_id is its own session. */
    public BatchResult logModelEventBatch(List<ModelEvent> events, Session session) {
        List<Object> items = new ArrayList<>();
        for (ModelEvent m : events) {
            if (session != null) {
                prepare(session);
                m.sessionId(session.sessionId());
            }
            prepare(m);
            items.add(m.fields);
        }
        return batch("/events/model/batch", "model_events", items, session);
    }

    private BatchResult batch(String path, String key, List<Object> items, Session session) {
        Map<String, Object> body = map(key, items, "is_single_session", session != null);
        if (session != null) {
            prepare(session);
            body.put("session_properties", session.fields);
        }
        Object out = request("POST", path, body);
        List<String> ids = new ArrayList<>();
        String sid = null;
        if (out instanceof Map<?, ?> m) {
            if (m.get("event_ids") instanceof List<?> l) for (Object o : l) ids.add(String.valueOf(o));
            if (m.get("session_id") instanceof String s) sid = s;
        }
        return new BatchResult(Collections.unmodifiableList(ids), sid);
    }

    /** Reads events back (POST /events/export); a filter is map("field", ..., "operator", ..., "value", ..., "type", ...). */
    public ExportResult export(List<Map<String, Object>> filters, int limit, int page) {
        Map<String, Object> body = map("project", project, "filters", filters == null ? List.of() : filters,
                "limit", limit <= 0 ? 1000 : limit, "page", page <= 0 ? 1 : page);
        Object out = request("POST", "/events/export", body);
        List<Map<String, Object>> events = new ArrayList<>();
        long total = 0;
        if (out instanceof Map<?, ?> m) {
            if (m.get("events") instanceof List<?> l) {
                for (Object o : l) if (o instanceof Map<?, ?> e) events.add(stringKeys(e));
            }
            if (m.get("totalEvents") instanceof Number n) total = n.longValue();
        }
        return new ExportResult(events, total);
    }

    private static Map<String, Object> stringKeys(Map<?, ?> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(String.valueOf(k), v));
        return out;
    }

    // ---- HTTP with retries --------------------------------------------------------------------

    /** Sends one request, retrying retryable failures; returns the parsed JSON answer. */
    Object request(String method, String path, Object body) {
        String json = Json.write(body);
        for (int attempt = 0; ; attempt++) {
            try {
                return once(method, path, json);
            } catch (HivelogException e) {
                if (!e.retryable() || attempt >= maxRetries) throw e;
                sleep(backoff(attempt, e.retryAfter()), e);
            }
        }
    }

    private Object once(String method, String path, String json) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(baseUrl + path))
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("User-Agent", "hivelog-java/" + VERSION)
                .method(method, HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (apiKey != null) rb.header("Authorization", "Bearer " + apiKey);
        HttpResponse<String> resp;
        try {
            resp = http.send(rb.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new HivelogException(unreachable(method, path, e), 0, null, null, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HivelogException("hivelog: interrupted", -1, null, null, e);
        }
        int status = resp.statusCode();
        String text = resp.body();
        if (status < 200 || status > 299) {
            Duration retryAfter = parseRetryAfter(resp.headers().firstValue("Retry-After").orElse(null),
                    ZonedDateTime.now());
            throw new HivelogException("hivelog: " + method + " " + path + ": HTTP " + status + ": " + text.strip(),
                    status, text, retryAfter, null);
        }
        if (text == null || text.isBlank()) return null;
        try {
            return Json.parse(text);
        } catch (IllegalArgumentException e) {
            throw new HivelogException("hivelog: undecodable answer: " + e.getMessage(), -1, text, null, e);
        }
    }

    /** Delay-seconds or an HTTP date; null when absent, unreadable or past. */
    static Duration parseRetryAfter(String value, ZonedDateTime now) {
        if (value == null || value.isBlank()) return null;
        String v = value.strip();
        try {
            double secs = Double.parseDouble(v);
            return secs > 0 && secs < 1e9 ? Duration.ofMillis((long) (secs * 1000)) : null;
        } catch (NumberFormatException ignored) {
            // not a number: an HTTP date
        }
        try {
            Duration d = Duration.between(now, ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME));
            return d.isNegative() || d.isZero() ? null : d;
        } catch (RuntimeException ignored) {
            return null;
        }
    }

    /** Retry-After when given, else exponential with jitter; capped by retryMaxDelay. */
    Duration backoff(int attempt, Duration retryAfter) {
        long cap = retryMaxDelay.toMillis();
        long ms;
        if (retryAfter != null) {
            ms = retryAfter.toMillis();
        } else {
            ms = attempt >= 30 ? cap : retryBaseDelay.toMillis() << attempt;
            if (ms <= 0 || ms > cap) ms = cap;
            ms = ms / 2 + ThreadLocalRandom.current().nextLong(ms / 2 + 1);
        }
        return Duration.ofMillis(Math.min(ms, cap));
    }

    private static void sleep(Duration d, HivelogException last) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HivelogException("hivelog: interrupted while retrying: " + last.getMessage(), -1,
                    null, null, e);
        }
    }

    // ---- async batching -----------------------------------------------------------------------

    /** Starts a Batcher's background thread; close it to flush and stop. */
    public Batcher newBatcher(BatcherOptions options) {
        return new Batcher(this, options == null ? new BatcherOptions() : options);
    }

    /** Configuration of a Batcher. */
    public static final class BatcherOptions {
        int batchSize = 100;
        Duration flushInterval = Duration.ofSeconds(1);
        int maxBuffer = 10_000;
        Duration closeTimeout = Duration.ofSeconds(30);
        Consumer<Exception> onError;

        /** Most items per flush request, and the buffer length that triggers a flush. Default 100. */
        public BatcherOptions batchSize(int v) { batchSize = Math.max(1, v); return this; }
        /** Time between timed flushes. Default 1 s. */
        public BatcherOptions flushInterval(Duration v) { flushInterval = v; return this; }
        /** Most items waiting; beyond it log* returns false and counts a drop. Default 10000. */
        public BatcherOptions maxBuffer(int v) { maxBuffer = Math.max(1, v); return this; }
        /** How long close() waits for the last sends. Default 30 s. */
        public BatcherOptions closeTimeout(Duration v) { closeTimeout = v; return this; }
        /** Called on the sender thread when a request failed after its retries (its items are dropped). */
        public BatcherOptions onError(Consumer<Exception> v) { onError = v; return this; }
    }

    /** Counters of a Batcher. */
    public record Stats(long queued, long sent, long dropped, long failed) {}

    /**
     * The async batching strategy: a bounded buffer of sessions, events and updates, and one
     * background thread that sends them in batches when batchSize items wait, every
     * flushInterval, on flush() and on close(). Its log methods never block on the network; they
     * return false when the buffer is full (the item is dropped and counted).
     */
    public static final class Batcher implements AutoCloseable {
        private final HivelogLogger logger;
        private final BatcherOptions opts;
        private final Object lock = new Object();
        private final ArrayDeque<Body<?>> buf = new ArrayDeque<>();
        private final Thread thread;
        private boolean closed;
        private long queued, sent, dropped, failed;
        private long flushRequested, flushDone;
        private Exception flushError;

        Batcher(HivelogLogger logger, BatcherOptions opts) {
            this.logger = logger;
            this.opts = opts;
            this.thread = new Thread(this::run, "hivelog-batcher");
            this.thread.setDaemon(true);
            this.thread.start();
        }

        /** Queues a session; returns its id. It is created with its first flush: with its events
         * as one single-session batch, or by POST /session/start when none of its events wait. */
        public String startSession(Session s) {
            logger.prepare(s);
            add(s);
            return s.sessionId();
        }

        /** Queues a model, tool or chain event; returns its id (also when the buffer was full). */
        public String logEvent(Event e) {
            logger.prepare(e);
            add(e);
            return e.eventId();
        }

        /** Queues an LLM call; returns its id. */
        public String logModelEvent(ModelEvent m) {
            logger.prepare(m);
            add(m);
            return m.eventId();
        }

        /** Queues an update; it is sent after the events queued before it. */
        public boolean updateEvent(Update u) {
            logger.prepare(u);
            return add(u);
        }

        /** False when the buffer was full or the batcher closed; the item is then not sent. */
        public boolean offer(Body<?> item) {
            if (item instanceof Session s) logger.prepare(s);
            else if (item instanceof Event e) logger.prepare(e);
            else if (item instanceof ModelEvent m) logger.prepare(m);
            else if (item instanceof Update u) logger.prepare(u);
            return add(item);
        }

        private boolean add(Body<?> item) {
            synchronized (lock) {
                if (closed) return false;
                if (buf.size() >= opts.maxBuffer) {
                    dropped++;
                    return false;
                }
                buf.addLast(item);
                queued++;
                if (buf.size() >= opts.batchSize) lock.notifyAll();
                return true;
            }
        }

        public Stats stats() {
            synchronized (lock) {
                return new Stats(queued, sent, dropped, failed);
            }
        }

        public int pending() {
            synchronized (lock) {
                return buf.size();
            }
        }

        /** Sends everything queued so far; throws the first error of that flush, or on timeout. */
        public void flush(Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (lock) {
                if (!thread.isAlive()) throw new IllegalStateException("hivelog: batcher closed");
                long mine = ++flushRequested;
                lock.notifyAll();
                while (flushDone < mine) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || !thread.isAlive()) {
                        throw new HivelogException("hivelog: flush did not finish in " + timeout, -1, null, null, null);
                    }
                    try {
                        lock.wait(Math.max(1, left / 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new HivelogException("hivelog: interrupted", -1, null, null, e);
                    }
                }
                if (flushError instanceof RuntimeException re) throw re;
                if (flushError != null) throw new HivelogException(flushError.getMessage(), -1, null, null, flushError);
            }
        }

        /** Stops accepting items, sends what is queued (waiting up to closeTimeout) and stops the thread. */
        @Override
        public void close() {
            synchronized (lock) {
                closed = true;
                lock.notifyAll();
            }
            try {
                thread.join(Math.max(1, opts.closeTimeout.toMillis()));
                if (thread.isAlive()) {
                    thread.interrupt();
                    thread.join();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void run() {
            long interval = Math.max(1, opts.flushInterval.toNanos());
            long nextTick = System.nanoTime() + interval;
            while (true) {
                boolean stopping;
                long round;
                synchronized (lock) {
                    while (!closed && flushRequested == flushDone && buf.size() < opts.batchSize) {
                        long left = nextTick - System.nanoTime();
                        if (left <= 0) break;
                        try {
                            lock.wait(Math.max(1, left / 1_000_000));
                        } catch (InterruptedException e) {
                            closed = true; // close() gave up waiting: abandon the sends
                            Thread.currentThread().interrupt();
                        }
                    }
                    stopping = closed;
                    round = flushRequested;
                }
                Exception err = sendAll();
                nextTick = System.nanoTime() + interval;
                synchronized (lock) {
                    if (round > flushDone) {
                        flushDone = round;
                        flushError = err;
                    }
                    lock.notifyAll();
                }
                if (stopping || Thread.currentThread().isInterrupted()) {
                    synchronized (lock) {
                        failed += buf.size();
                        buf.clear();
                        flushDone = flushRequested;
                        lock.notifyAll();
                    }
                    return;
                }
            }
        }

        private Exception sendAll() {
            Exception first = null;
            while (!Thread.currentThread().isInterrupted()) {
                List<Body<?>> chunk = new ArrayList<>();
                synchronized (lock) {
                    while (!buf.isEmpty() && chunk.size() < opts.batchSize) chunk.add(buf.pollFirst());
                }
                if (chunk.isEmpty()) break;
                Exception err = sendChunk(chunk);
                if (first == null) first = err;
            }
            return first;
        }

        /** New sessions with their events (single-session batches), then the other events, then
         * model events, then updates, so updates follow what they update. */
        private Exception sendChunk(List<Body<?>> chunk) {
            Map<String, Session> sessions = new LinkedHashMap<>();
            Map<String, List<Event>> fresh = new LinkedHashMap<>();
            List<Event> events = new ArrayList<>();
            List<ModelEvent> models = new ArrayList<>();
            List<Update> updates = new ArrayList<>();
            for (Body<?> item : chunk) {
                if (item instanceof Session s) {
                    sessions.put(s.sessionId(), s);
                    fresh.put(s.sessionId(), new ArrayList<>());
                }
            }
            for (Body<?> item : chunk) {
                if (item instanceof Event e) {
                    List<Event> group = fresh.get(e.sessionId());
                    if (group != null) group.add(e); else events.add(e);
                } else if (item instanceof ModelEvent m) {
                    models.add(m);
                } else if (item instanceof Update u) {
                    updates.add(u);
                }
            }
            Exception[] first = {null};
            for (Session s : sessions.values()) {
                List<Event> group = fresh.get(s.sessionId());
                if (group.isEmpty()) attempt(1, first, () -> logger.startSession(s));
                else attempt(1 + group.size(), first, () -> logger.logEventBatch(group, s));
            }
            if (!events.isEmpty()) attempt(events.size(), first, () -> logger.logEventBatch(events, null));
            if (!models.isEmpty()) attempt(models.size(), first, () -> logger.logModelEventBatch(models, null));
            for (Update u : updates) attempt(1, first, () -> logger.updateEvent(u));
            return first[0];
        }

        private void attempt(int n, Exception[] first, Runnable send) {
            try {
                send.run();
                synchronized (lock) {
                    sent += n;
                }
            } catch (RuntimeException e) {
                synchronized (lock) {
                    failed += n;
                }
                if (first[0] == null) first[0] = e;
                if (opts.onError != null) {
                    try {
                        opts.onError.accept(e);
                    } catch (RuntimeException ignored) {
                        // a failing callback must not stop the sender
                    }
                }
            }
        }
    }

    // ---- JSON ---------------------------------------------------------------------------------

    /** A small, strict JSON writer and parser (the JDK has none). */
    public static final class Json {
        private Json() {}

        /**
         * Maps (keys via String.valueOf), Iterables and arrays, Strings and Characters, Numbers,
         * Booleans, Enums (by name) and null; anything else is written as its toString(). NaN and
         * infinities become null; unpaired surrogates become U+FFFD.
         */
        public static String write(Object value) {
            StringBuilder sb = new StringBuilder();
            write(sb, value, 0);
            return sb.toString();
        }

        private static void write(StringBuilder sb, Object v, int depth) {
            if (depth > 512) throw new IllegalArgumentException("JSON nesting too deep (a cycle?)");
            if (v == null) {
                sb.append("null");
            } else if (v instanceof CharSequence || v instanceof Character) {
                string(sb, v.toString());
            } else if (v instanceof Boolean) {
                sb.append(v);
            } else if (v instanceof Number n) {
                number(sb, n);
            } else if (v instanceof Map<?, ?> m) {
                sb.append('{');
                boolean firstEntry = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!firstEntry) sb.append(',');
                    firstEntry = false;
                    string(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue(), depth + 1);
                }
                sb.append('}');
            } else if (v instanceof Iterable<?> it) {
                sb.append('[');
                boolean firstItem = true;
                for (Object o : it) {
                    if (!firstItem) sb.append(',');
                    firstItem = false;
                    write(sb, o, depth + 1);
                }
                sb.append(']');
            } else if (v.getClass().isArray()) {
                sb.append('[');
                for (int i = 0, n = Array.getLength(v); i < n; i++) {
                    if (i > 0) sb.append(',');
                    write(sb, Array.get(v, i), depth + 1);
                }
                sb.append(']');
            } else if (v instanceof Body<?> b) {
                write(sb, b.fields, depth + 1);
            } else if (v instanceof Enum<?> e) {
                string(sb, e.name());
            } else {
                string(sb, v.toString());
            }
        }

        private static void number(StringBuilder sb, Number n) {
            if (n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte
                    || n instanceof BigInteger) {
                sb.append(n);
            } else if (n instanceof BigDecimal d) {
                sb.append(d.toString());
            } else {
                double d = n.doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    sb.append("null");
                } else if (n instanceof Float f) {
                    sb.append(f.toString());
                } else if (n instanceof Double) {
                    sb.append(Double.toString(d));
                } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
                    sb.append((long) d); // AtomicLong, LongAdder…
                } else {
                    sb.append(Double.toString(d));
                }
            }
        }

        private static final char[] HEX = "0123456789abcdef".toCharArray();

        private static void string(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> sb.append("\\\"");
                    case '\\' -> sb.append("\\\\");
                    case '\b' -> sb.append("\\b");
                    case '\f' -> sb.append("\\f");
                    case '\n' -> sb.append("\\n");
                    case '\r' -> sb.append("\\r");
                    case '\t' -> sb.append("\\t");
                    default -> {
                        if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029') {
                            sb.append("\\u").append(HEX[c >> 12 & 15]).append(HEX[c >> 8 & 15])
                                    .append(HEX[c >> 4 & 15]).append(HEX[c & 15]);
                        } else if (Character.isHighSurrogate(c) && i + 1 < s.length()
                                && Character.isLowSurrogate(s.charAt(i + 1))) {
                            sb.append(c).append(s.charAt(++i));
                        } else if (Character.isSurrogate(c)) {
                            sb.append('\ufffd');
                        } else {
                            sb.append(c);
                        }
                    }
                }
            }
            sb.append('"');
        }

        /** Objects become LinkedHashMaps, arrays ArrayLists, integers Long (BigInteger when
         * larger), other numbers Double. Throws IllegalArgumentException on malformed input. */
        public static Object parse(String text) {
            Parser p = new Parser(text);
            p.ws();
            Object v = p.value(0);
            p.ws();
            if (p.i != text.length()) throw p.error("trailing characters");
            return v;
        }

        private static final class Parser {
            final String s;
            int i;

            Parser(String s) { this.s = s; }

            IllegalArgumentException error(String what) {
                return new IllegalArgumentException("JSON: " + what + " at offset " + i);
            }

            void ws() {
                while (i < s.length()) {
                    char c = s.charAt(i);
                    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') i++; else break;
                }
            }

            char peek() {
                if (i >= s.length()) throw error("unexpected end");
                return s.charAt(i);
            }

            void expect(String word) {
                if (!s.startsWith(word, i)) throw error("expected " + word);
                i += word.length();
            }

            Object value(int depth) {
                if (depth > 512) throw error("nesting too deep");
                char c = peek();
                switch (c) {
                    case '{': {
                        i++;
                        Map<String, Object> m = new LinkedHashMap<>();
                        ws();
                        if (peek() == '}') { i++; return m; }
                        while (true) {
                            ws();
                            if (peek() != '"') throw error("expected a key");
                            String k = string();
                            ws();
                            if (peek() != ':') throw error("expected ':'");
                            i++;
                            ws();
                            m.put(k, value(depth + 1));
                            ws();
                            char d = peek();
                            i++;
                            if (d == '}') return m;
                            if (d != ',') throw error("expected ',' or '}'");
                        }
                    }
                    case '[': {
                        i++;
                        List<Object> l = new ArrayList<>();
                        ws();
                        if (peek() == ']') { i++; return l; }
                        while (true) {
                            ws();
                            l.add(value(depth + 1));
                            ws();
                            char d = peek();
                            i++;
                            if (d == ']') return l;
                            if (d != ',') throw error("expected ',' or ']'");
                        }
                    }
                    case '"':
                        return string();
                    case 't':
                        expect("true");
                        return Boolean.TRUE;
                    case 'f':
                        expect("false");
                        return Boolean.FALSE;
                    case 'n':
                        expect("null");
                        return null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return number();
                        throw error("unexpected character '" + c + "'");
                }
            }

            String string() {
                i++; // opening quote
                StringBuilder sb = new StringBuilder();
                while (true) {
                    char c = peek();
                    i++;
                    if (c == '"') return sb.toString();
                    if (c < 0x20) throw error("control character in a string");
                    if (c != '\\') { sb.append(c); continue; }
                    char e = peek();
                    i++;
                    switch (e) {
                        case '"' -> sb.append('"');
                        case '\\' -> sb.append('\\');
                        case '/' -> sb.append('/');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'n' -> sb.append('\n');
                        case 'r' -> sb.append('\r');
                        case 't' -> sb.append('\t');
                        case 'u' -> {
                            if (i + 4 > s.length()) throw error("short \\u escape");
                            try {
                                sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            } catch (NumberFormatException ex) {
                                throw error("bad \\u escape");
                            }
                            i += 4;
                        }
                        default -> throw error("bad escape \\" + e);
                    }
                }
            }

            Object number() {
                int start = i;
                if (peek() == '-') i++;
                if (i < s.length() && s.charAt(i) == '0') {
                    i++;
                } else {
                    if (i >= s.length() || !Character.isDigit(s.charAt(i))) throw error("bad number");
                    while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
                }
                boolean integral = true;
                if (i < s.length() && s.charAt(i) == '.') {
                    integral = false;
                    i++;
                    if (i >= s.length() || !Character.isDigit(s.charAt(i))) throw error("bad fraction");
                    while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
                }
                if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
                    integral = false;
                    i++;
                    if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
                    if (i >= s.length() || !Character.isDigit(s.charAt(i))) throw error("bad exponent");
                    while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
                }
                String num = s.substring(start, i);
                if (!integral) return Double.parseDouble(num);
                try {
                    return Long.parseLong(num);
                } catch (NumberFormatException e) {
                    return new BigInteger(num);
                }
            }
        }
    }
}
