// A JavaScript runtime's heap: objects and arrays grow, survive or die, in phases.
let keep = [];
for (let phase = 0; phase < 6; phase++) {
  let junk = [];
  for (let i = 0; i < 200000 * (phase + 1); i++) {
    const o = { id: i, name: "n" + i, tags: [i, i * 2, i * 3] };
    if (i % 7 === 0) keep.push(o); else junk.push(o);
  }
  const buf = new Float64Array(1 << 22);  // 32 MiB off-heap
  buf.fill(phase);
  junk = null;
  if (phase % 2 === 1) keep = keep.slice(keep.length / 2);
  const until = Date.now() + 300;
  while (Date.now() < until) {}
}
console.log(keep.length);
