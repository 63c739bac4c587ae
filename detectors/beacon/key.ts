// How connections are grouped into beacon pairs. One definition, used by the detector, the
// `vigil beacons` command and the benchmark's labels, so that they always agree.
//
// A pair is (source host, destination service). The destination is the server name when one
// is known (TLS SNI, HTTP Host or a DNS answer, joined into FlowRecord.server_name), because a
// C2 server behind a CDN or a proxy changes addresses but not its name; otherwise it is the
// responder's address, port and transport.

import type { FlowRecord } from '../../collectors/record.js';

/** The destination service of a connection: `name` or `addr:port/proto`. */
export function destinationOf(f: Pick<FlowRecord, 'resp_h' | 'resp_p' | 'proto' | 'server_name'>): string {
  const name = f.server_name;
  if (name !== undefined && name !== '') return name.toLowerCase();
  return `${f.resp_h}:${f.resp_p}/${f.proto}`;
}

/** The pair key: `src>destination`. */
export function pairKeyOf(f: Pick<FlowRecord, 'orig_h' | 'resp_h' | 'resp_p' | 'proto' | 'server_name'>): string {
  return `${f.orig_h}>${destinationOf(f)}`;
}
