const t = () => performance.now().toFixed(0);
export async function resolve(s, c, next) { const a = performance.now(); const r = await next(s, c); console.error("[hook]", t(), "resolve", s, (performance.now()-a).toFixed(0)); return r; }
export async function load(u, c, next) { const a = performance.now(); const r = await next(u, c); console.error("[hook]", t(), "load", u, r.format, (performance.now()-a).toFixed(0)); return r; }
