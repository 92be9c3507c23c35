// COCO run-length encoding, as pycocotools does it, so masks round-trip with the
// server byte for byte. Masks are column-major (Fortran order): runs go down each
// column, then on to the next; the first run counts background pixels.
//
// The compressed string packs each count into 5-bit groups (LEB128-like, with a
// sign bit in the last group), stores counts from the third on as a delta from
// the count two back, and offsets every group by 48 so it is printable ASCII.

/** Decode a COCO compressed counts string into an array of run lengths. */
export function countsFromString(text) {
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= text.length) throw new Error("truncated RLE string");
      const c = text.charCodeAt(p) - 48;
      // Multiply rather than shift: a count can need 35 bits, past JS's 32-bit ops.
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Encode run lengths as a COCO compressed counts string. */
export function countsToString(counts) {
  let out = "";
  for (let i = 0; i < counts.length; i += 1) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      const c0 = ((x % 32) + 32) % 32; // low 5 bits, also for negative x
      x = Math.floor(x / 32); // arithmetic shift
      more = (c0 & 0x10) ? x !== -1 : x !== 0;
      out += String.fromCharCode(c0 + (more ? 0x20 : 0) + 48);
    }
  }
  return out;
}

/** Run lengths of an RLE object, whichever form its counts take. */
export function rleCounts(rle) {
  return typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
}

/**
 * Call visit(x, y0, y1) for every foreground run, split at column boundaries, so a
 * caller can rasterise a mask at any scale without allocating it at full size.
 */
export function forEachRun(counts, height, visit) {
  let pos = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const n = counts[i];
    if (i % 2 === 1 && n > 0) {
      let start = pos;
      const end = pos + n; // exclusive
      while (start < end) {
        const x = Math.floor(start / height);
        const y0 = start - x * height;
        const y1 = Math.min(height, y0 + (end - start)); // exclusive
        visit(x, y0, y1);
        start += y1 - y0;
      }
    }
    pos += n;
  }
}

/** Row-major 0/1 bytes (width*height) → COCO RLE object {size: [h, w], counts}. */
export function encodeMask(data, width, height) {
  const counts = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x += 1) {
    for (let i = x; i < data.length; i += width) {
      const v = data[i] ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        run = 0;
        current = v;
      }
      run += 1;
    }
  }
  counts.push(run);
  return { size: [height, width], counts: countsToString(counts) };
}

/** COCO RLE object → row-major 0/1 bytes of its full size. */
export function decodeMask(rle) {
  const [height, width] = rle.size;
  const data = new Uint8Array(width * height);
  forEachRun(rleCounts(rle), height, (x, y0, y1) => {
    for (let y = y0; y < y1; y += 1) data[y * width + x] = 1;
  });
  return data;
}
