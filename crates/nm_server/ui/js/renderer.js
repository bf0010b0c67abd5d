// WebGL2 point renderer: every plot on one canvas (one viewport + scissor per plot), one draw of
// GL points per plot (one vertex per sample, sized by gl_PointSize and shaded round with
// anti-aliasing in the fragment shader). Each plot's buffer holds all epochs' quantised positions
// (u16, [E, n, 2]); two attribute bindings point at epochs A and B and the vertex shader blends them
// with u_blend, so the slider and play button morph smoothly without re-uploading anything.
// Points rather than instanced quads: a quarter of the vertex work, which is what software GL
// (SwiftShader) spends its time on; the largest point is far below every implementation's limit.
// Extra points (parametric mode) are an overlay: hollow rings in float data coordinates.
// Draw order: points flagged "on top" (the hovered class, the selection) are skipped by a first
// pass and drawn by a second one, only for plots that have any.
// @ts-check

import { paletteBytes } from './palette.js';

/**
 * What one plot draws in a frame: its rect (CSS px) and camera, the two view epochs blended
 * (ia < 0: nothing to draw) with their bounds [x0, y0, x1, y1], the point radius (CSS px), and the
 * overlays in data coordinates: hover rings, the pinned trajectory and its dots.
 * @typedef {object} PlotFrame
 * @property {import('./layout.js').Area} rect
 * @property {import('./layout.js').Camera} cam
 * @property {number} ia
 * @property {number} ib
 * @property {number} blend
 * @property {number[]} boundsA
 * @property {number[]} boundsB
 * @property {number} radius
 * @property {number} opacity          of the points neither dimmed nor emphasised, in (0, 1]
 * @property {Float32Array | null} [rings]
 * @property {Float32Array | null} [trail]
 * @property {Float32Array | null} [trailDots]
 * @property {Float32Array | null} [twinLines]   segments (x0, y0, x1, y1) from each twin to its clean sample
 * @property {Float32Array | null} [extras]      extra points (parametric mode), drawn as hollow rings
 */

/**
 * A compiled program and its uniforms by name.
 * @typedef {{p: WebGLProgram, u: {[name: string]: WebGLUniformLocation | null}}} Program
 */

/**
 * One plot's GPU state: positions of all epochs, per-point attributes, and which epochs the
 * position attributes point at.
 * @typedef {{vao: WebGLVertexArrayObject, pos: WebGLBuffer, attr: WebGLBuffer, n: number, E: number, epochA: number, epochB: number, onTop: number}} GpuPlot
 */

const POINT_VS = `#version 300 es
layout(location=1) in vec2 a_posA;     // u16 normalised to [0, 1]
layout(location=2) in vec2 a_posB;
layout(location=3) in uvec2 a_attr;    // palette slot, flags (1 hidden, 2 dimmed, 4 emphasised, 8 on top, 16 twin)
uniform vec4 u_boundsA;                // lo.x, lo.y, range.x, range.y of epoch A
uniform vec4 u_boundsB;
uniform float u_blend;
uniform vec4 u_view;                   // data -> clip: scale.xy, offset.xy
uniform float u_radius;                // point radius in CSS pixels
uniform float u_dpr;                   // device pixels per CSS pixel
uniform float u_dimAlpha;
uniform float u_opacity;               // of points neither dimmed nor emphasised
uniform uint u_pass;                   // 0: the points not on top; 1: those on top (drawn after)
uniform float u_maxSize;               // the implementation's largest point (ALIASED_POINT_SIZE_RANGE)
uniform sampler2D u_palette;
out vec4 v_color;
out float v_radius;                    // in device pixels
out float v_size;
flat out uint v_twin;
void main() {
  uint flags = a_attr.y;
  v_twin = (flags & 16u) != 0u ? 1u : 0u;
  bool skip = (flags & 1u) != 0u || (((flags & 8u) != 0u) != (u_pass == 1u));
  if (skip) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; return; }
  vec2 pa = u_boundsA.xy + a_posA * u_boundsA.zw;
  vec2 pb = u_boundsB.xy + a_posB * u_boundsB.zw;
  vec2 p = mix(pa, pb, u_blend);
  float r = min(u_radius * u_dpr * (((flags & 4u) != 0u) ? 1.5 : 1.0), 0.5 * (u_maxSize - 1.0));
  gl_Position = vec4(p * u_view.xy + u_view.zw, 0.0, 1.0);
  gl_PointSize = 2.0 * r + 1.0;
  vec4 c = texelFetch(u_palette, ivec2(int(a_attr.x), 0), 0);
  v_color = vec4(c.rgb, ((flags & 2u) != 0u) ? u_dimAlpha : ((flags & 20u) != 0u) ? c.a : c.a * u_opacity);
  v_radius = r;
  v_size = 2.0 * r + 1.0;
}`;

const POINT_FS = `#version 300 es
precision mediump float;
in vec4 v_color;
in float v_radius;
in float v_size;
flat in uint v_twin;
out vec4 o;
void main() {
  vec2 c = gl_PointCoord - 0.5;
  if (v_twin == 1u) {
    // An adversarial twin: a diamond (L1 ball) with a dark rim, a little larger than the discs.
    float d = (abs(c.x) + abs(c.y)) * v_size * 1.1;
    float a = clamp(v_radius * 1.3 + 0.5 - d, 0.0, 1.0);
    if (a <= 0.0) discard;
    float rim = clamp(d - (v_radius * 1.3 - 1.5), 0.0, 1.0);
    vec3 rgb = mix(v_color.rgb, vec3(0.1), rim * 0.8);
    float alpha = v_color.a * a;
    o = vec4(rgb * alpha, alpha);
    return;
  }
  float d = length(c) * v_size;
  float a = v_color.a * clamp(v_radius + 0.5 - d, 0.0, 1.0);
  if (a <= 0.0) discard;
  o = vec4(v_color.rgb * a, a);
}`;

// Overlays (hover rings, trajectories): float data coordinates, drawn as lines or ring sprites.
const OVERLAY_VS = `#version 300 es
layout(location=0) in vec2 a_pos;
uniform vec4 u_view;
uniform float u_size;
void main() {
  gl_Position = vec4(a_pos * u_view.xy + u_view.zw, 0.0, 1.0);
  gl_PointSize = u_size;
}`;

const OVERLAY_FS = `#version 300 es
precision mediump float;
uniform vec4 u_color;
uniform int u_ring;      // 0 line, 1 ring sprite, 2 filled dot sprite, 3 hollow point (dark rim, light halo)
out vec4 o;
void main() {
  float a = u_color.a;
  if (u_ring != 0) {
    float d = length(gl_PointCoord - 0.5) * 2.0;
    if (d > 1.0) discard;
    if (u_ring == 1 && d < 0.62) discard;
    if (u_ring == 3) {
      // An extra point: a dark rim with a thin light halo inside it, and nothing in the middle.
      if (d < 0.5) discard;
      vec3 rgb = d < 0.64 ? vec3(1.0) : u_color.rgb;
      float al = d < 0.64 ? 0.85 * a : a;
      o = vec4(rgb * al, al);
      return;
    }
  }
  o = vec4(u_color.rgb * a, a);
}`;

/** @param {WebGL2RenderingContext} gl @param {number} type @param {string} src */
function compile(gl, type, src) {
  const s = gl.createShader(type);
  if (!s) throw new Error('cannot create a shader');
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s) || 'shader compile error');
  return s;
}

/** @param {WebGL2RenderingContext} gl @param {string} vs @param {string} fs @returns {Program} */
function program(gl, vs, fs) {
  const p = gl.createProgram();
  gl.attachShader(p, compile(gl, gl.VERTEX_SHADER, vs));
  gl.attachShader(p, compile(gl, gl.FRAGMENT_SHADER, fs));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p) || 'program link error');
  /** @type {Program['u']} */
  const u = {};
  const n = gl.getProgramParameter(p, gl.ACTIVE_UNIFORMS);
  for (let i = 0; i < n; i++) {
    const info = gl.getActiveUniform(p, i);
    if (!info) continue;
    const name = info.name;
    u[name] = gl.getUniformLocation(p, name);
  }
  return { p, u };
}

export class Renderer {
  /**
   * Throws when WebGL2 is unavailable (the caller shows a message).
   * @param {HTMLCanvasElement} canvas
   */
  constructor(canvas) {
    const gl = canvas.getContext('webgl2', { antialias: false, premultipliedAlpha: true, alpha: false, preserveDrawingBuffer: false });
    if (!gl) throw new Error('WebGL2 is not available');
    this.canvas = canvas;
    this.gl = gl;
    this.points = program(gl, POINT_VS, POINT_FS);
    this.maxPointSize = Math.max(1, gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1]);
    this.overlay = program(gl, OVERLAY_VS, OVERLAY_FS);
    /** @type {(GpuPlot | undefined)[]} */
    this.plots = [];
    this.overlayBuf = gl.createBuffer();
    this.overlayVao = gl.createVertexArray();
    gl.bindVertexArray(this.overlayVao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.overlayBuf);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    gl.bindVertexArray(null);
    this.palette = gl.createTexture();
    this.setPalette(['#888888']);
    this.dpr = 1;
    this.background = [1, 1, 1];
  }

  /** @param {string[]} classHex the class colours */
  setPalette(classHex) {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.palette);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, paletteBytes(classHex));
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  }

  /** @param {number} cssW @param {number} cssH @param {number} dpr */
  resize(cssW, cssH, dpr) {
    this.dpr = dpr;
    const w = Math.max(1, Math.round(cssW * dpr)), h = Math.max(1, Math.round(cssH * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) { this.canvas.width = w; this.canvas.height = h; }
  }

  /**
   * Uploads a view's positions (all epochs) for plot i.
   * @param {number} i
   * @param {{n: number, epochs: number[], pos: Uint16Array}} emb
   */
  setPlotData(i, emb) {
    const gl = this.gl;
    let pl = this.plots[i];
    if (!pl) {
      pl = this.plots[i] = { vao: gl.createVertexArray(), pos: gl.createBuffer(), attr: gl.createBuffer(), n: 0, E: 0, epochA: -1, epochB: -1, onTop: 0 };
      gl.bindVertexArray(pl.vao);
      gl.bindBuffer(gl.ARRAY_BUFFER, pl.attr);
      gl.enableVertexAttribArray(3);
      gl.vertexAttribIPointer(3, 2, gl.UNSIGNED_BYTE, 0, 0);
      gl.enableVertexAttribArray(1);
      gl.enableVertexAttribArray(2);
      gl.bindVertexArray(null);
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, pl.pos);
    gl.bufferData(gl.ARRAY_BUFFER, emb.pos, gl.STATIC_DRAW);
    pl.n = emb.n; pl.E = emb.epochs.length; pl.epochA = pl.epochB = -1; pl.onTop = 0;
    gl.bindBuffer(gl.ARRAY_BUFFER, pl.attr);
    gl.bufferData(gl.ARRAY_BUFFER, new Uint8Array(emb.n * 2), gl.DYNAMIC_DRAW);
  }

  /**
   * Per-point [slot, flags] bytes for plot i.
   * @param {number} i
   * @param {Uint8Array} attrs 2n bytes
   * @param {number} onTop how many points are flagged on top (0: one pass is enough)
   */
  setPlotAttrs(i, attrs, onTop) {
    const gl = this.gl, pl = this.plots[i];
    if (!pl) return;
    pl.onTop = onTop;
    gl.bindBuffer(gl.ARRAY_BUFFER, pl.attr);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, attrs);
  }

  /** Frees the GPU state of plots `count` and later. @param {number} count */
  dropPlotsFrom(count) {
    const gl = this.gl;
    for (const pl of this.plots.splice(count)) {
      if (!pl) continue;
      gl.deleteBuffer(pl.pos); gl.deleteBuffer(pl.attr); gl.deleteVertexArray(pl.vao);
    }
  }

  /**
   * @param {import('./layout.js').Area} rect
   * @param {import('./layout.js').Camera} cam
   * @returns {[number, number, number, number]}
   */
  viewUniform(rect, cam) {
    // data -> clip inside the viewport of rect: clip = (p - c) * scale * 2 / size
    const sx = (2 * cam.scale) / rect.w, sy = (2 * cam.scale) / rect.h;
    return [sx, sy, -cam.cx * sx, -cam.cy * sy];
  }

  /**
   * Draws a frame: every plot's points, then its overlays.
   * @param {PlotFrame[]} plots
   * @param {{dimAlpha?: number}} [opts]
   */
  draw(plots, opts = {}) {
    const gl = this.gl, dpr = this.dpr, H = this.canvas.height;
    gl.disable(gl.SCISSOR_TEST);
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    const [br, bg, bb] = this.background;
    gl.clearColor(br, bg, bb, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    gl.enable(gl.SCISSOR_TEST);
    const P = this.points;
    for (let i = 0; i < plots.length; i++) {
      const f = plots[i], pl = this.plots[i];
      const x = Math.round(f.rect.x * dpr), y = Math.round(H - (f.rect.y + f.rect.h) * dpr);
      const w = Math.round(f.rect.w * dpr), h = Math.round(f.rect.h * dpr);
      gl.viewport(x, y, w, h);
      gl.scissor(x, y, w, h);
      gl.clearColor(0.985, 0.985, 0.98, 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (!pl || !pl.n || f.ia < 0) continue;
      const view = this.viewUniform(f.rect, f.cam);
      gl.useProgram(P.p);
      gl.bindVertexArray(pl.vao);
      if (pl.epochA !== f.ia || pl.epochB !== f.ib) {
        gl.bindBuffer(gl.ARRAY_BUFFER, pl.pos);
        gl.vertexAttribPointer(1, 2, gl.UNSIGNED_SHORT, true, 0, f.ia * pl.n * 4);
        gl.vertexAttribPointer(2, 2, gl.UNSIGNED_SHORT, true, 0, f.ib * pl.n * 4);
        pl.epochA = f.ia; pl.epochB = f.ib;
      }
      const bA = f.boundsA, bB = f.boundsB;
      gl.uniform4f(P.u.u_boundsA, bA[0], bA[1], bA[2] - bA[0], bA[3] - bA[1]);
      gl.uniform4f(P.u.u_boundsB, bB[0], bB[1], bB[2] - bB[0], bB[3] - bB[1]);
      gl.uniform1f(P.u.u_blend, f.blend);
      gl.uniform4f(P.u.u_view, ...view);
      gl.uniform1f(P.u.u_radius, f.radius);
      gl.uniform1f(P.u.u_dpr, dpr);
      gl.uniform1f(P.u.u_maxSize, this.maxPointSize);
      gl.uniform1f(P.u.u_dimAlpha, opts.dimAlpha ?? 0.08);
      gl.uniform1f(P.u.u_opacity, f.opacity);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.palette);
      gl.uniform1i(P.u.u_palette, 0);
      gl.uniform1ui(P.u.u_pass, 0);
      gl.drawArrays(gl.POINTS, 0, pl.n);
      if (pl.onTop > 0) {
        gl.uniform1ui(P.u.u_pass, 1);
        gl.drawArrays(gl.POINTS, 0, pl.n);
      }
      gl.bindVertexArray(null);
      this.drawOverlays(f, view, dpr);
    }
    gl.disable(gl.SCISSOR_TEST);
  }

  /**
   * @param {PlotFrame} f
   * @param {[number, number, number, number]} view
   * @param {number} dpr
   */
  drawOverlays(f, view, dpr) {
    const gl = this.gl, O = this.overlay;
    /** @type {{data: Float32Array, mode: number, ring: number, color: [number, number, number, number], size: number}[]} */
    const items = [];
    if (f.twinLines && f.twinLines.length >= 4) items.push({ data: f.twinLines, mode: gl.LINES, ring: 0, color: [0.15, 0.15, 0.15, 0.45], size: 1 });
    if (f.trail && f.trail.length >= 4) items.push({ data: f.trail, mode: gl.LINE_STRIP, ring: 0, color: [0.1, 0.1, 0.1, 0.75], size: 1 });
    if (f.trailDots && f.trailDots.length) items.push({ data: f.trailDots, mode: gl.POINTS, ring: 2, color: [0.1, 0.1, 0.1, 0.8], size: 5 * dpr });
    if (f.extras && f.extras.length) items.push({ data: f.extras, mode: gl.POINTS, ring: 3, color: [0.08, 0.08, 0.08, 1], size: Math.max(9, f.radius * 3.2) * dpr });
    if (f.rings && f.rings.length) items.push({ data: f.rings, mode: gl.POINTS, ring: 1, color: [0, 0, 0, 1], size: Math.max(14, f.radius * 5) * dpr });
    if (!items.length) return;
    gl.useProgram(O.p);
    gl.bindVertexArray(this.overlayVao);
    gl.uniform4f(O.u.u_view, ...view);
    for (const it of items) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.overlayBuf);
      gl.bufferData(gl.ARRAY_BUFFER, it.data, gl.STREAM_DRAW);
      gl.uniform4f(O.u.u_color, ...it.color);
      gl.uniform1i(O.u.u_ring, it.ring);
      gl.uniform1f(O.u.u_size, it.size);
      gl.drawArrays(it.mode, 0, it.data.length / 2);
    }
    gl.bindVertexArray(null);
  }
}
