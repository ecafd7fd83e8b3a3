// Shared measuring loop for the runtime pages. A page supplies three async functions:
//   init(cfg)               load and start the runtime -> {version, threads, detail}
//                           (threads: what the runtime itself reports, null if it cannot say)
//   load(cfg)               fetch and compile cfg.model -> a model handle
//   infer(model, x, shape)  one forward pass, output copied back to JS -> Float32Array
// (and optionally threads(): the thread count the runtime really uses, asked after load)
// and this module times them, then publishes everything as window.__twinbench, which the
// Python side (twinbench.web.browser) waits for. Times are performance.now() milliseconds;
// its resolution is 5 us on cross-origin-isolated pages and 100 us otherwise.

export function config() {
  const q = new URLSearchParams(location.search);
  return {
    model: q.get('model'),
    data: q.get('data'),
    backend: q.get('backend') || 'wasm',
    threads: Number(q.get('threads') || 1),
    runs: Number(q.get('runs') || 20),
    warmup: Number(q.get('warmup') || 3),
  };
}

async function fetchInputs(cfg) {
  // meta.json: {input_shape: [1, ...], n_inputs}; inputs.bin: n_inputs float32 samples
  const meta = await (await fetch(cfg.data + 'meta.json')).json();
  const buf = await (await fetch(cfg.data + 'inputs.bin')).arrayBuffer();
  const per = meta.input_shape.reduce((a, b) => a * b, 1);
  const xs = [];
  for (let i = 0; i < meta.n_inputs; i++) {
    xs.push(new Float32Array(buf, i * per * 4, per).slice());
  }
  return {meta, xs};
}

export async function measure(page) {
  const cfg = config();
  const out = {ok: false, backend: cfg.backend, requested_threads: cfg.threads,
               cross_origin_isolated: self.crossOriginIsolated,
               hardware_concurrency: navigator.hardwareConcurrency};
  try {
    const {meta, xs} = await fetchInputs(cfg);
    const shape = meta.input_shape;
    let t = performance.now();
    const info = await page.init(cfg);
    out.runtime_init_ms = performance.now() - t;
    Object.assign(out, {runtime_version: info.version, threads: info.threads ?? null,
                        detail: info.detail || ''});
    t = performance.now();
    const model = await page.load(cfg);
    out.model_load_ms = performance.now() - t;
    if (page.threads) out.threads = page.threads();  // some runtimes settle threads at load
    out.ready_ms = performance.now();  // since navigation start: what a visitor waits for
    t = performance.now();
    await page.infer(model, xs[0], shape);
    out.first_inference_ms = performance.now() - t;
    out.warmups_ms = [];
    for (let i = 0; i < cfg.warmup; i++) {
      t = performance.now();
      await page.infer(model, xs[0], shape);
      out.warmups_ms.push(performance.now() - t);
    }
    out.samples_ms = [];
    for (let i = 0; i < cfg.runs; i++) {
      t = performance.now();
      await page.infer(model, xs[0], shape);
      out.samples_ms.push(performance.now() - t);
    }
    out.outputs = [];
    for (const x of xs) out.outputs.push(Array.from(await page.infer(model, x, shape)));
    out.ok = true;
  } catch (e) {
    out.error = String((e && e.message) || e).split('\n')[0];
  }
  window.__twinbench = out;
}
