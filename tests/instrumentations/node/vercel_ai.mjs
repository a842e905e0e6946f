// The Vercel AI SDK with telemetry on, exporting OTLP to hivelog, the model a fake OpenAI server.
//
// Env: FAKE_OPENAI_URL (…/v1), OTLP_ENDPOINT (…/v1/traces?project=…), OTLP_PROTOCOL
// ("proto" or "json"). One trace: an "agent run" root span holding a generateText call that
// runs a tool (two model steps) and a streamText call. Prints the trace id as JSON.
import { createOpenAI } from "@ai-sdk/openai";
import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter as HttpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const url = process.env.OTLP_ENDPOINT;
const exporter =
  process.env.OTLP_PROTOCOL === "json" ? new HttpJsonExporter({ url }) : new ProtoExporter({ url });
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "vercel-ai-app" }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
provider.register();

const openai = createOpenAI({ baseURL: process.env.FAKE_OPENAI_URL, apiKey: "sk-fake" });
const model = openai.chat("gpt-4o-mini");
const telemetry = {
  isEnabled: true,
  functionId: "weather-agent",
  metadata: { tenant: "acme", attempt: 2 },
};

const getWeather = tool({
  description: "Current weather for a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: "sunny", celsius: 21 }),
});

const tracer = trace.getTracer("vercel-ai-app");
let traceId = "";
await tracer.startActiveSpan("agent run", async (root) => {
  traceId = root.spanContext().traceId;
  await generateText({
    model,
    system: "You are terse.",
    prompt: "What is the weather in Paris?",
    tools: { get_weather: getWeather },
    stopWhen: stepCountIs(3),
    experimental_telemetry: telemetry,
  });
  const stream = streamText({
    model,
    prompt: "Say hello in French and Chinese; what is 6×7?",
    experimental_telemetry: telemetry,
  });
  for await (const _ of stream.textStream) {
    // drain the stream: the spans end when it is consumed
  }
  root.end();
});
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify({ trace_id: traceId }));
