// ganexplorer live canvas: an anywidget ESM module, no build step.
// Frames arrive as binary buffers (JPEG, or raw RGB for small frames) with a sequence number; a frame older
// than the newest one drawn is dropped, so a fast drag never shows stale images out of order.

function rgbToImageData(bytes, width, height) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    rgba[i * 4] = bytes[j];
    rgba[i * 4 + 1] = bytes[j + 1];
    rgba[i * 4 + 2] = bytes[j + 2];
    rgba[i * 4 + 3] = 255;
  }
  return new ImageData(rgba, width, height);
}

async function decode(msg, buffer) {
  const bytes = new Uint8Array(buffer.buffer ? buffer.buffer : buffer, buffer.byteOffset || 0, buffer.byteLength);
  if (msg.format === "raw") {
    return createImageBitmap(rgbToImageData(bytes, msg.width, msg.height));
  }
  return createImageBitmap(new Blob([bytes], { type: "image/jpeg" }));
}

function render({ model, el }) {
  const canvas = document.createElement("canvas");
  canvas.className = "gx-live-canvas";
  canvas.style.imageRendering = "pixelated";
  canvas.style.border = "1px solid #ccc";
  el.appendChild(canvas);
  const ctx = canvas.getContext("2d");
  let newest = -1;

  const pings = new Map();
  el.gxPing = () => new Promise((resolve) => { // message round trip with no pixels (benchmark floor)
    const id = Math.random();
    pings.set(id, [performance.now(), resolve]);
    model.send({ type: "ping", id });
  });

  async function onFrame(msg, buffers) {
    if (msg.type === "pong" && pings.has(msg.id)) {
      const [t0, resolve] = pings.get(msg.id);
      pings.delete(msg.id);
      resolve(performance.now() - t0);
      return;
    }
    if (msg.type !== "frame" || msg.seq <= newest) return;
    const bitmap = await decode(msg, buffers[0]);
    if (msg.seq <= newest) return; // a newer frame was drawn while this one decoded
    newest = msg.seq;
    const scale = model.get("scale");
    if (canvas.width !== msg.width * scale || canvas.height !== msg.height * scale) {
      canvas.width = msg.width * scale;
      canvas.height = msg.height * scale;
    }
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close && bitmap.close();
    canvas.dataset.seq = String(newest);
    canvas.dataset.drawnAt = String(performance.now());
  }

  model.on("msg:custom", onFrame);
  model.send({ type: "ready" }); // ask for the current frame (a new view, or a re-opened notebook)
  return () => model.off("msg:custom", onFrame);
}

export default { render };
