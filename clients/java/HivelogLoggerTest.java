package hivelog;

import static hivelog.HivelogLogger.map;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import hivelog.HivelogLogger.Batcher;
import hivelog.HivelogLogger.BatcherOptions;
import hivelog.HivelogLogger.BatchResult;
import hivelog.HivelogLogger.Event;
import hivelog.HivelogLogger.ExportResult;
import hivelog.HivelogLogger.HivelogException;
import hivelog.HivelogLogger.Json;
import hivelog.HivelogLogger.ModelEvent;
import hivelog.HivelogLogger.Session;
import hivelog.HivelogLogger.Stats;
import hivelog.HivelogLogger.Update;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Starts a real `hivelog serve` (HIVELOG_BIN, else ../../.venv/bin/hivelog) on a free 127.0.0.1
 * port with a temporary SQLite database, logs with every strategy and reads the events back
 * through POST /events/export. Every public static void test* method runs; exit status 1 on any
 * failure.
 */
public final class HivelogLoggerTest {
    static String serverUrl;
    static int failures;
    static String current;

    public static void main(String[] args) throws Exception {
        String bin = System.getenv("HIVELOG_BIN");
        if (bin == null || bin.isEmpty()) bin = "../../.venv/bin/hivelog";
        File binFile = new File(bin).getAbsoluteFile();
        if (!binFile.canExecute()) {
            System.err.println("hivelog binary not found at " + binFile + " (set HIVELOG_BIN or run `make install`)");
            System.exit(1);
        }
        Path dir = Files.createTempDirectory("hivelog-java-test-");
        Path log = dir.resolve("server.log");
        int port = freePort();
        Process server = new ProcessBuilder(binFile.getPath(), "serve", "--host", "127.0.0.1",
                "--port", String.valueOf(port), "--db", dir.resolve("hivelog.db").toString(), "--log-level", "warning")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            serverUrl = "http://127.0.0.1:" + port;
            if (!waitHealthy(serverUrl, Duration.ofSeconds(90), server)) {
                System.err.println("hivelog did not become healthy; its log:\n" + Files.readString(log));
                System.exit(1);
            }
            List<Method> tests = new ArrayList<>();
            for (Method m : HivelogLoggerTest.class.getDeclaredMethods()) {
                if (m.getName().startsWith("test") && Modifier.isStatic(m.getModifiers()) && m.getParameterCount() == 0) {
                    tests.add(m);
                }
            }
            tests.sort((a, b) -> a.getName().compareTo(b.getName()));
            for (Method m : tests) {
                current = m.getName();
                int before = failures;
                long t0 = System.nanoTime();
                try {
                    m.invoke(null);
                } catch (java.lang.reflect.InvocationTargetException e) {
                    failures++;
                    System.out.println("  " + current + ": " + e.getCause());
                    e.getCause().printStackTrace(System.out);
                }
                System.out.printf("%s %s (%d ms)%n", failures == before ? "PASS" : "FAIL", current,
                        (System.nanoTime() - t0) / 1_000_000);
            }
            System.out.println(failures == 0 ? "ok: " + tests.size() + " tests" : "FAILED: " + failures + " failures");
            if (failures > 0) System.out.println("server log:\n" + Files.readString(log));
        } finally {
            server.destroy();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly();
                server.waitFor(10, TimeUnit.SECONDS);
            }
            deleteTree(dir);
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            paths.sorted(Collections.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    static boolean waitHealthy(String base, Duration limit, Process server) throws InterruptedException {
        HttpClient hc = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(1)).build();
        long deadline = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < deadline && server.isAlive()) {
            try {
                HttpResponse<String> r = hc.send(HttpRequest.newBuilder(URI.create(base + "/healthz"))
                        .timeout(Duration.ofSeconds(1)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) return true;
            } catch (IOException ignored) {
                // not up yet
            }
            Thread.sleep(100);
        }
        return false;
    }

    // ---- assertions ---------------------------------------------------------------------------

    static void check(boolean ok, String what) {
        if (!ok) {
            failures++;
            System.out.println("  " + current + ": " + what);
        }
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Object get(Object v, String... path) {
        for (String p : path) {
            if (!(v instanceof Map<?, ?> m)) return null;
            v = m.get(p);
        }
        return v;
    }

    /** Numbers compare by value (JSON reads 55 back as 55 or 55.0). */
    static void expect(Map<String, Object> event, Object want, String... path) {
        Object got = get(event, path);
        boolean same = got instanceof Number g && want instanceof Number w
                ? g.doubleValue() == w.doubleValue() : Objects.equals(got, want);
        check(same, (event == null ? "null event" : event.get("event_id")) + " " + String.join(".", path)
                + ": got " + got + ", want " + want);
    }

    /** A client writing to a project of its own, so tests do not see each other's events. */
    static HivelogLogger client(String base) {
        return HivelogLogger.builder().baseUrl(base).apiKey("test-key").source("test")
                .project("java-" + current + "-" + HivelogLogger.newId().substring(0, 8))
                .retryBaseDelay(Duration.ofMillis(50)).build();
    }

    /** A session's events by id; fails on a duplicate id. */
    static Map<String, Map<String, Object>> sessionEvents(HivelogLogger c, String sessionId) {
        ExportResult res = c.export(List.of(map("field", "session_id", "operator", "is", "value", sessionId,
                "type", "string")), 1000, 1);
        Map<String, Map<String, Object>> byId = new HashMap<>();
        for (Map<String, Object> e : res.events()) {
            require(byId.put((String) e.get("event_id"), e) == null, "event " + e.get("event_id") + " exported twice");
        }
        require(res.totalEvents() == res.events().size(), "totalEvents " + res.totalEvents());
        return byId;
    }

    static void waitFor(Duration limit, String what, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!cond.getAsBoolean()) {
            require(System.nanoTime() < deadline, "timed out waiting for " + what);
            Thread.sleep(25);
        }
    }

    // ---- JSON ---------------------------------------------------------------------------------

    public static void testJsonWriter() {
        check(Json.write("a\"b\\c/\b\f\n\r\t\u0000\u001f\u007f\u2028").equals(
                "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0000\\u001f\\u007f\\u2028\""), "escapes");
        check(Json.write("héllo 🐝 中文").equals("\"héllo 🐝 中文\""), "unicode kept as is");
        check(Json.write("x\ud800y").equals("\"x\ufffdy\""), "lone surrogate replaced");
        check(Json.write(List.of(1, 2L, (short) 3, 1.5, 0.1f, -0.0, 1e300, new BigDecimal("1.10"),
                new BigInteger("123456789012345678901234567890"), Double.NaN, Float.POSITIVE_INFINITY))
                .equals("[1,2,3,1.5,0.1,-0.0,1.0E300,1.10,123456789012345678901234567890,null,null]"),
                "numbers: " + Json.write(List.of(1, 2L, 1.5, 0.1f, -0.0, 1e300)));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("k", null);
        m.put("arr", new int[] {1, 2});
        m.put("strs", new String[] {"a"});
        m.put("b", true);
        m.put("e", TimeUnit.SECONDS);
        check(Json.write(m).equals("{\"k\":null,\"arr\":[1,2],\"strs\":[\"a\"],\"b\":true,\"e\":\"SECONDS\"}"),
                "map: " + Json.write(m));
    }

    public static void testJsonRoundTrip() {
        String s = "q\"\\\n\t\u0001 é 🐝 \u2028";
        Map<String, Object> m = map("s", s, "n", 12345678901L, "d", 2.5, "l", List.of(true, false), "o", map());
        Object back = Json.parse(Json.write(m));
        check(back.equals(Map.of("s", s, "n", 12345678901L, "d", 2.5, "l", List.of(true, false), "o", Map.of())),
                "round trip: " + back);
        check(Json.parse("\"\\ud83d\\udc1d\\u00e9\\/\"").equals("🐝é/"), "\\u escapes and surrogate pairs");
        check(Json.parse(" [1e3, -0.5, 0, 99999999999999999999] ").equals(
                List.of(1000.0, -0.5, 0L, new BigInteger("99999999999999999999"))), "numbers parse");
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\u0001\"", "tru", "[1] x", "\"\\x\""}) {
            try {
                Json.parse(bad);
                check(false, "parsed malformed " + bad);
            } catch (IllegalArgumentException expected) {
                // good
            }
        }
    }

    public static void testRetryAfterAndBackoff() {
        ZonedDateTime now = ZonedDateTime.of(2026, 1, 2, 3, 4, 5, 0, ZoneOffset.UTC);
        check(HivelogLogger.parseRetryAfter("1", now).equals(Duration.ofSeconds(1)), "seconds");
        check(HivelogLogger.parseRetryAfter("2.5", now).equals(Duration.ofMillis(2500)), "fraction");
        check(HivelogLogger.parseRetryAfter("-1", now) == null, "negative");
        check(HivelogLogger.parseRetryAfter("soon", now) == null, "garbage");
        check(HivelogLogger.parseRetryAfter(null, now) == null, "absent");
        String date = now.plusSeconds(3).format(DateTimeFormatter.RFC_1123_DATE_TIME);
        check(Duration.ofSeconds(3).equals(HivelogLogger.parseRetryAfter(date, now)), "HTTP date " + date);
        HivelogLogger c = HivelogLogger.builder().retryBaseDelay(Duration.ofMillis(100))
                .retryMaxDelay(Duration.ofSeconds(1)).build();
        for (int attempt = 0; attempt < 70; attempt++) {
            Duration d = c.backoff(attempt, null);
            check(!d.isNegative() && d.compareTo(Duration.ofSeconds(1)) <= 0, "backoff " + attempt + ": " + d);
        }
        check(c.backoff(0, Duration.ofMillis(700)).equals(Duration.ofMillis(700)), "Retry-After honoured");
        check(c.backoff(0, Duration.ofMinutes(1)).equals(Duration.ofSeconds(1)), "Retry-After capped");
    }

    // ---- strategy 1: sync LLM -----------------------------------------------------------------

    public static void testStrategy1SyncLlm() {
        HivelogLogger c = client(serverUrl);
        String sid = c.startSession(new Session("chat").userProperties(map("user_id", "u1")));
        String text = "Héllo \"wörld\"\n\t🐝 \u0001";
        String mid = c.logModelEvent(new ModelEvent("gpt-4o-mini", "openai")
                .sessionId(sid)
                .messages(List.of(map("role", "user", "content", text)))
                .response(map("role", "assistant", "content", "hi"))
                .usage(map("prompt_tokens", 12, "completion_tokens", 3, "total_tokens", 15))
                .hyperparameters(map("temperature", 0.2))
                .duration(321.5)
                .cost(0.0021));
        Map<String, Map<String, Object>> events = sessionEvents(c, sid);
        require(events.size() == 2, "want session + 1 model event, got " + events.size());
        expect(events.get(sid), "session", "event_type");
        expect(events.get(sid), "chat", "event_name");
        expect(events.get(sid), "u1", "user_properties", "user_id");
        Map<String, Object> m = events.get(mid);
        expect(m, "model", "event_type");
        expect(m, "gpt-4o-mini", "config", "model");
        expect(m, "openai", "config", "provider");
        expect(m, sid, "parent_id");
        expect(m, "hi", "outputs", "content");
        expect(m, 12, "metadata", "prompt_tokens");
        expect(m, 15, "metadata", "total_tokens");
        expect(m, 321.5, "duration");
        expect(m, "test", "source");
        Object history = get(m, "inputs", "chat_history");
        check(history instanceof List<?> l && l.size() == 1 && text.equals(get(l.get(0), "content")),
                "chat_history round trip: " + history);
    }

    /** A call logged after it returned, with its duration, ran for the duration just past. */
    public static void testDurationOnlyEndsWhenLogged() {
        HivelogLogger c = client(serverUrl);
        String sid = c.startSession(new Session("timed"));
        long before = System.currentTimeMillis();
        String mid = c.logModelEvent(new ModelEvent("gpt-4o", "openai").sessionId(sid).duration(840));
        long after = System.currentTimeMillis();
        Map<String, Object> m = sessionEvents(c, sid).get(mid);
        double start = ((Number) get(m, "start_time")).doubleValue();
        double end = ((Number) get(m, "end_time")).doubleValue();
        check(end - start == 840 && end >= before - 1 && end <= after + 1,
                "a call of 840 ms logged between " + before + " and " + after + ": " + start + ".." + end);
    }

    // ---- strategy 2: sync LLM + tool ----------------------------------------------------------

    public static void testStrategy2SyncLlmAndTool() {
        HivelogLogger c = client(serverUrl);
        String sid = c.startSession(new Session("rag").metadata(map("app", "v1")));
        long start = HivelogLogger.nowMs();
        String chainId = c.logEvent(Event.chain("answer").sessionId(sid)
                .inputs(map("question", "why?")).startTime(start).duration(40));
        String toolId = c.logEvent(Event.tool("vector-search").sessionId(sid).parentId(chainId)
                .config(map("index", "docs")).inputs(map("query", "why?"))
                .outputs(map("draft", true)).metadata(map("k", 3)).duration(12));
        String modelId = c.logEvent(Event.model("gpt-4o").sessionId(sid).parentId(chainId)
                .config(map("model", "gpt-4o", "provider", "openai"))
                .inputs(map("chat_history", List.of(map("role", "user", "content", "why?"))))
                .outputs(map("role", "assistant", "content", "because"))
                .metadata(map("prompt_tokens", 5, "completion_tokens", 1)).duration(25));
        c.updateEvent(new Update(toolId).metadata(map("hits", 2)).outputs(map("docs", List.of("a", "b")))
                .feedback(map("rating", 5)));
        c.updateEvent(new Update(sid).outputs(map("answer", "because")).metadata(map("done", true)).duration(55));

        Map<String, Map<String, Object>> events = sessionEvents(c, sid);
        require(events.size() == 4, "want 4 events, got " + events.size());
        expect(events.get(chainId), "chain", "event_type");
        expect(events.get(chainId), sid, "parent_id");
        expect(events.get(chainId), start, "start_time");
        Map<String, Object> tool = events.get(toolId);
        expect(tool, "tool", "event_type");
        expect(tool, chainId, "parent_id");
        expect(tool, "docs", "config", "index");
        expect(tool, 3, "metadata", "k");      // kept: metadata merges
        expect(tool, 2, "metadata", "hits");   // added
        expect(tool, 5, "feedback", "rating");
        expect(tool, null, "outputs", "draft"); // outputs replace
        expect(tool, List.of("a", "b"), "outputs", "docs");
        expect(events.get(modelId), chainId, "parent_id");
        expect(events.get(modelId), "because", "outputs", "content");
        expect(events.get(sid), "v1", "metadata", "app");
        expect(events.get(sid), true, "metadata", "done");
        expect(events.get(sid), "because", "outputs", "answer");
        expect(events.get(sid), 55, "duration");
    }

    // ---- strategy 3: async, one batch per finished interaction --------------------------------

    public static void testStrategy3AsyncBatchCalls() {
        HivelogLogger c = client(serverUrl);
        Session session = new Session("interaction");
        Event chain = Event.chain("pipeline").eventId(HivelogLogger.newId());
        Event tool = Event.tool("lookup").parentId(chain.eventId()).inputs(map("id", 7)).outputs(map("found", true));
        BatchResult res = c.logEventBatch(List.of(chain, tool), session);
        require(session.sessionId().equals(res.sessionId()) && res.eventIds().size() == 2, "batch result " + res);
        Map<String, Map<String, Object>> events = sessionEvents(c, session.sessionId());
        require(events.size() == 3, "want session + 2, got " + events.size());
        expect(events.get(session.sessionId()), "interaction", "event_name");
        expect(events.get(tool.eventId()), chain.eventId(), "parent_id");
        expect(events.get(chain.eventId()), session.sessionId(), "parent_id");
        expect(events.get(tool.eventId()), true, "outputs", "found");

        // Model events without a session: each becomes its own session.
        ModelEvent m1 = new ModelEvent("m", "p").response(map("content", "1"));
        ModelEvent m2 = new ModelEvent("m", "p").response(map("content", "2"));
        res = c.logModelEventBatch(List.of(m1, m2), null);
        check(res.eventIds().equals(List.of(m1.eventId(), m2.eventId())), "model batch ids " + res);
        ExportResult all = c.export(List.of(map("field", "event_type", "operator", "is", "value", "model",
                "type", "string")), 100, 1);
        check(all.events().size() == 2 && all.events().stream().map(e -> e.get("session_id")).distinct().count() == 2,
                "want 2 model events in 2 sessions: " + all.events().size());

        // Model events grouped into one session.
        Session grouped = new Session("grouped");
        c.logModelEventBatch(List.of(new ModelEvent("m", "p"), new ModelEvent("m", "p")), grouped);
        check(sessionEvents(c, grouped.sessionId()).size() == 3, "want session + 2 model events");
    }

    // ---- strategy 4: async batching -----------------------------------------------------------

    public static void testStrategy4Batcher() {
        HivelogLogger c = client(serverUrl);
        Batcher b = c.newBatcher(new BatcherOptions().batchSize(7).flushInterval(Duration.ofMillis(50)));
        List<String[]> sessions = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            String sid = b.startSession(new Session("s" + i));
            String chain = b.logEvent(Event.chain("turn").sessionId(sid));
            String tool = b.logEvent(Event.tool("search").sessionId(sid).parentId(chain)
                    .metadata(map("a", 1)).outputs(map("old", 1)));
            String model = b.logEvent(Event.model("llm").sessionId(sid).parentId(chain));
            String llm = b.logModelEvent(new ModelEvent("gpt", "openai").sessionId(sid).parentId(chain)
                    .usage(map("prompt_tokens", i)));
            require(b.updateEvent(new Update(tool).metadata(map("b", i)).outputs(map("new", i))), "update queued");
            sessions.add(new String[] {sid, chain, tool, model, llm});
        }
        b.close();
        Stats st = b.stats();
        require(st.queued() == 60 && st.sent() == 60 && st.failed() == 0 && st.dropped() == 0, "stats " + st);
        check(!b.offer(Event.tool("late")), "offer after close must fail");
        for (int i = 0; i < sessions.size(); i++) {
            String[] w = sessions.get(i);
            Map<String, Map<String, Object>> events = sessionEvents(c, w[0]);
            require(events.size() == 5, "session " + i + ": want 5 events, got " + events.size());
            expect(events.get(w[0]), "s" + i, "event_name");
            expect(events.get(w[1]), w[0], "parent_id");
            for (int k = 2; k < 5; k++) expect(events.get(w[k]), w[1], "parent_id");
            expect(events.get(w[2]), 1, "metadata", "a");
            expect(events.get(w[2]), i, "metadata", "b");
            expect(events.get(w[2]), i, "outputs", "new");
            expect(events.get(w[2]), null, "outputs", "old");
            expect(events.get(w[4]), "model", "event_type");
            expect(events.get(w[4]), i, "metadata", "prompt_tokens");
        }
    }

    public static void testBatcherFlushesByIntervalAndSize() throws InterruptedException {
        HivelogLogger c = client(serverUrl);
        try (Batcher byTime = c.newBatcher(new BatcherOptions().batchSize(1000).flushInterval(Duration.ofMillis(100)))) {
            byTime.logEvent(Event.tool("timed"));
            waitFor(Duration.ofSeconds(10), "the interval flush", () -> c.export(null, 100, 1).totalEvents() > 0);
        }
        HivelogLogger c2 = client(serverUrl);
        try (Batcher bySize = c2.newBatcher(new BatcherOptions().batchSize(3).flushInterval(Duration.ofHours(1)))) {
            for (int i = 0; i < 3; i++) bySize.logEvent(Event.tool("sized"));
            // 3 tools, each in a new session of its own (no session id given: the server makes one).
            waitFor(Duration.ofSeconds(10), "the size flush", () -> c2.export(null, 100, 1).totalEvents() >= 3);
        }
    }

    public static void testBatcherBoundedBuffer() {
        HivelogLogger c = client(serverUrl);
        Batcher b = c.newBatcher(new BatcherOptions().batchSize(100).maxBuffer(5).flushInterval(Duration.ofHours(1)));
        int refused = 0;
        for (int i = 0; i < 8; i++) if (!b.offer(Event.tool("x"))) refused++;
        require(refused == 3 && b.pending() == 5, "refused " + refused + " pending " + b.pending());
        b.flush(Duration.ofSeconds(30));
        b.close();
        Stats st = b.stats();
        check(st.sent() == 5 && st.dropped() == 3, "stats " + st);
        check(c.export(null, 100, 1).totalEvents() == 10, "5 tools in 5 new sessions");
    }

    // ---- retries ------------------------------------------------------------------------------

    /**
     * A stub in front of the real server: the first request gets 503 + Retry-After: 1 (not
     * forwarded); the second is forwarded but answered 502, as if the answer were lost; later
     * ones are forwarded. It records when each request arrived.
     */
    static final class Stub implements AutoCloseable {
        final HttpServer server;
        final List<Long> times = new CopyOnWriteArrayList<>();
        final List<String> paths = new CopyOnWriteArrayList<>();
        final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

        Stub() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.createContext("/", this::handle);
            server.start();
        }

        String url() { return "http://127.0.0.1:" + server.getAddress().getPort(); }

        synchronized void handle(HttpExchange ex) throws IOException {
            int n = times.size();
            times.add(System.nanoTime());
            paths.add(ex.getRequestMethod() + " " + ex.getRequestURI().getPath());
            byte[] body = ex.getRequestBody().readAllBytes();
            if (n == 0) {
                ex.getResponseHeaders().set("Retry-After", "1");
                reply(ex, 503, "{\"message\":\"overloaded\"}");
                return;
            }
            HttpResponse<String> r;
            try {
                r = http.send(HttpRequest.newBuilder(URI.create(serverUrl + ex.getRequestURI()))
                        .header("Content-Type", "application/json")
                        .method(ex.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                        HttpResponse.BodyHandlers.ofString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                reply(ex, 500, "interrupted");
                return;
            }
            if (n == 1) reply(ex, r.statusCode() == 200 ? 502 : r.statusCode(), "answer lost");
            else reply(ex, r.statusCode(), r.body());
        }

        static void reply(HttpExchange ex, int status, String text) throws IOException {
            byte[] out = text.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(status, out.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(out);
            }
        }

        @Override public void close() { server.stop(0); }
    }

    public static void testBatcherRetriesOnceOnly() throws IOException {
        try (Stub stub = new Stub()) {
            HivelogLogger c = client(stub.url());
            List<Exception> errors = new CopyOnWriteArrayList<>();
            Batcher b = c.newBatcher(new BatcherOptions().batchSize(50).flushInterval(Duration.ofHours(1))
                    .onError(errors::add));
            String sid = b.startSession(new Session("retried"));
            List<String> ids = new ArrayList<>(List.of(sid));
            for (int i = 0; i < 20; i++) ids.add(b.logEvent(Event.tool("t" + i).sessionId(sid)));
            b.close();
            require(errors.isEmpty(), "errors " + errors);
            require(stub.times.size() == 3, "want 3 attempts (503, lost answer, success): " + stub.paths);
            long gapMs = (stub.times.get(1) - stub.times.get(0)) / 1_000_000;
            check(gapMs >= 900, "Retry-After: 1 not honoured, retried after " + gapMs + " ms");
            for (String p : stub.paths) check(p.equals("POST /events/batch"), "unexpected request " + p);
            HivelogLogger direct = HivelogLogger.builder().baseUrl(serverUrl).project(c.project()).build();
            Map<String, Map<String, Object>> events = sessionEvents(direct, sid);
            require(events.size() == ids.size(), "want " + ids.size() + " events once each, got " + events.size());
            for (String id : ids) check(events.containsKey(id), "event " + id + " missing");
        }
    }

    /** Logging starts before the server is up: connections are refused, then retried. */
    public static void testSyncRetriesUntilServerIsUp() throws Exception {
        int port = freePort();
        HivelogLogger c = client("http://127.0.0.1:" + port);
        HttpClient fwd = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpServer[] proxy = {null};
        Thread starter = new Thread(() -> {
            try {
                Thread.sleep(600);
                HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
                s.createContext("/", ex -> {
                    byte[] body = ex.getRequestBody().readAllBytes();
                    try {
                        HttpResponse<String> r = fwd.send(HttpRequest.newBuilder(URI.create(serverUrl + ex.getRequestURI()))
                                .header("Content-Type", "application/json")
                                .method(ex.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                                HttpResponse.BodyHandlers.ofString());
                        Stub.reply(ex, r.statusCode(), r.body());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        Stub.reply(ex, 500, "interrupted");
                    }
                });
                s.start();
                synchronized (proxy) {
                    proxy[0] = s;
                }
            } catch (Exception e) {
                System.out.println("  proxy failed: " + e);
            }
        });
        starter.start();
        try {
            String sid = c.startSession(new Session("late server"));
            c.logEvent(Event.tool("late").sessionId(sid));
            check(sessionEvents(c, sid).size() == 2, "want 2 events");
        } finally {
            starter.join();
            synchronized (proxy) {
                if (proxy[0] != null) proxy[0].stop(0);
            }
        }
    }

    public static void testNoRetryOnClientError() throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        int[] hits = {0};
        s.createContext("/", ex -> {
            synchronized (hits) {
                hits[0]++;
            }
            ex.getRequestBody().readAllBytes();
            Stub.reply(ex, 400, "{\"message\":\"bad\"}");
        });
        s.start();
        try {
            HivelogLogger c = client("http://127.0.0.1:" + s.getAddress().getPort());
            try {
                c.logEvent(Event.tool("x"));
                check(false, "want an exception");
            } catch (HivelogException e) {
                check(e.status() == 400 && !e.retryable(), "status " + e.status());
            }
            synchronized (hits) {
                check(hits[0] == 1, "hits " + hits[0]);
            }
        } finally {
            s.stop(0);
        }
    }

    /** A key that cannot be an HTTP header value is refused by build(), saying which character. */
    public static void testBuildRefusesAKeyThatCannotBeAHeader() {
        for (String key : List.of("\u2026", "hl_abc\u2026", "my key", "hl_abc\r\nX-Evil: 1", "cl\u00e9")) {
            try {
                HivelogLogger.builder().baseUrl("http://127.0.0.1:1").apiKey(key).build();
                check(false, "want build() to refuse key " + Json.write(key));
            } catch (IllegalArgumentException e) {
                check(e.getMessage().contains("API key cannot be sent in an HTTP header"), e.getMessage());
            }
        }
        try {
            HivelogLogger.builder().baseUrl("http://127.0.0.1:1").apiKey("key\u2026").build();
            check(false, "want build() to refuse key\u2026");
        } catch (IllegalArgumentException e) {
            check(e.getMessage().contains("character 4 of 4 is '\u2026' (U+2026)"), e.getMessage());
        }
        try {
            HivelogLogger.builder().baseUrl("127.0.0.1:8080").build();
            check(false, "want build() to refuse a URL without a scheme");
        } catch (IllegalArgumentException e) {
            check(e.getMessage().contains("http://"), e.getMessage());
        }
        HivelogLogger.builder().baseUrl("http://127.0.0.1:1").apiKey("hl_0123abcd_A-b.c~d+e/f=").build();
    }

    /** A server that cannot be reached is named, host and port, in the exception. */
    public static void testUnreachableServerIsNamed() throws IOException {
        int port = freePort(); // nothing listens there
        HivelogLogger c = HivelogLogger.builder().baseUrl("http://127.0.0.1:" + port).maxRetries(0).build();
        try {
            c.logEvent(Event.tool("x"));
            check(false, "want an exception");
        } catch (HivelogException e) {
            check(e.getMessage().contains("cannot reach 127.0.0.1:" + port)
                    && e.getMessage().contains("connection refused"), e.getMessage());
        }
    }

    /** A server that never recovers: close() gives up after closeTimeout and counts the loss. */
    public static void testBatcherCloseIsBounded() throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        s.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            ex.getResponseHeaders().set("Retry-After", "1");
            Stub.reply(ex, 503, "busy");
        });
        s.start();
        try {
            HivelogLogger c = HivelogLogger.builder().baseUrl("http://127.0.0.1:" + s.getAddress().getPort())
                    .maxRetries(100).build();
            List<Exception> errors = new CopyOnWriteArrayList<>();
            Batcher b = c.newBatcher(new BatcherOptions().flushInterval(Duration.ofHours(1))
                    .closeTimeout(Duration.ofMillis(300)).onError(errors::add));
            for (int i = 0; i < 3; i++) b.logEvent(Event.tool("doomed"));
            long t0 = System.nanoTime();
            b.close();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            check(ms < 5000, "close took " + ms + " ms");
            Stats st = b.stats();
            check(st.failed() == 3 && st.sent() == 0 && errors.size() == 1, "stats " + st + ", errors " + errors.size());
        } finally {
            s.stop(0);
        }
    }

    public static void testRejectsUnknownEventType() {
        HivelogLogger c = HivelogLogger.builder().baseUrl("http://127.0.0.1:1").build();
        try {
            c.logEvent(new Event("session", "s"));
            check(false, "want an IllegalArgumentException");
        } catch (IllegalArgumentException expected) {
            // good
        }
    }
}
