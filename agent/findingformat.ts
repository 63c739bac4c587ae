// Prints findings for people (a table) and for programs (JSON lines).

import type { Finding } from '../detectors/detector.js';

export function findingToJson(f: Finding): string {
  return JSON.stringify({
    id: f.id,
    detector: f.detector,
    type: f.type,
    segment: f.segment,
    entity: f.entity,
    ts: f.ts,
    window: f.window,
    score: f.score,
    severity: f.severity,
    subscores: f.subscores,
    attack: f.attack,
    summary: f.summary,
    evidence: f.evidence,
  });
}

export const TABLE_HEADER = ['WINDOW (UTC)', 'DETECTOR', 'SEGMENT', 'ENTITY', 'SCORE', 'SEVERITY', 'SUMMARY'];

export function findingRow(f: Finding): string[] {
  return [
    formatWindow(f.window),
    f.detector,
    f.segment,
    f.entity.id,
    String(Math.round(f.score * 100)),
    f.severity,
    f.summary,
  ];
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // The last column (free text) is not padded.
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function formatWindow([start, end]: [number, number]): string {
  const s = new Date(start * 1000).toISOString();
  const e = new Date(end * 1000).toISOString();
  // Whole days print as a date; anything else as start–end times.
  if (end - start === 86400 && s.endsWith('T00:00:00.000Z')) return s.slice(0, 10);
  return `${s.slice(0, 16).replace('T', ' ')}–${e.slice(11, 16)}`;
}
