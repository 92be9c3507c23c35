// COCO run-length encoding, as pycocotools does it, so masks round-trip with the
// server byte for byte. Masks are column-major (Fortran order): runs go down each
// column, then on to the next; the first run counts background pixels.
//
// The compressed string packs each count into 5-bit groups (LEB128-like, with a
// sign bit in the last group), stores counts from the third on as a delta from
// the count two back, and offsets every group by 48 so it is printable ASCII.

// 32 ** k for the groups of one number: a count can need 35 bits (7 groups), past
// JS's 32-bit shifts, so groups are scaled by multiplying.
const GROUP = [1, 32, 1024, 32768, 1048576, 33554432, 1073741824, 34359738368];

/**
 * Decode a COCO compressed counts string into run lengths, as a typed array (every
 * count takes at least one character, so text.length bounds how many there are).
 */
export function countsFromString(text) {
  const counts = new Float64Array(text.length);
  let n = 0;
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let c = 0x20;
    while (c & 0x20) {
      if (p >= text.length || k >= GROUP.length) throw new Error("truncated or malformed RLE string");
      c = text.charCodeAt(p) - 48;
      x += (c & 0x1f) * GROUP[k];
      p += 1;
      k += 1;
    }
    if (c & 0x10) x -= GROUP[k] || 2 ** (5 * k); // sign bit of the last group
    if (n > 2) x += counts[n - 2];
    counts[n] = x;
    n += 1;
  }
  return counts.subarray(0, n);
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

/**
 * Pixel count and bounding box of a mask straight from its run lengths (column-major,
 * `height` rows): {area, x0, y0, x1, y1} with exclusive ends, or null when empty.
 */
export function runsBounds(counts, height) {
  let area = 0;
  let x0 = Infinity; let y0 = Infinity; let x1 = -1; let y1 = -1;
  let pos = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const n = counts[i];
    if (i & 1 && n > 0) {
      area += n;
      const first = Math.floor(pos / height);
      const last = Math.floor((pos + n - 1) / height);
      if (first < x0) x0 = first;
      if (last + 1 > x1) x1 = last + 1;
      if (last > first) {
        // It wraps into the next column: from its top to the bottom of the first
        // column, then from row 0 on, so it spans every row.
        y0 = 0;
        y1 = height;
      } else {
        const top = pos - first * height;
        if (top < y0) y0 = top;
        if (top + n > y1) y1 = top + n;
      }
    }
    pos += n;
  }
  return area ? { area, x0, y0, x1, y1 } : null;
}

/**
 * COCO RLE object → row-major 0/1 bytes of its full size. One pass over the runs
 * writing only foreground bytes, with no callback per run: this is on the path from
 * a `masks` reply to the painted candidate.
 */
export function decodeMask(rle) {
  const [height, width] = rle.size;
  const total = width * height;
  const data = new Uint8Array(total);
  const counts = rleCounts(rle);
  let pos = 0;
  for (let i = 0; i < counts.length && pos < total; i += 1) {
    const n = counts[i];
    if (i & 1) {
      const end = Math.min(total, pos + n);
      let x = Math.floor(pos / height);
      let y = pos - x * height;
      for (let p = pos; p < end; p += 1) {
        data[y * width + x] = 1;
        y += 1;
        if (y === height) { y = 0; x += 1; }
      }
    }
    pos += n;
  }
  return data;
}
