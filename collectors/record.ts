// The records every collector produces and every detector consumes. This file is the one place
// they are defined; bump RECORD_SCHEMA_VERSION whenever a field changes meaning or type.
//
// Conventions that hold for every record type:
// - Times are seconds since the Unix epoch (UTC) as a float with microsecond precision, as in
//   Zeek's `ts`. They are the time of the event, never the time vigil read it.
// - A field that the source left unset (Zeek's `-`) is `undefined` in memory and absent in JSON.
//   Zeek's `(empty)` (a set or string that is present but empty) is the empty string.
// - Counters are non-negative integers. Byte counters can exceed 2^32 and are plain numbers
//   (exact up to 2^53, far above any real connection).

/** Version of the record shapes below. Persisted state and wire messages carry it. */
export const RECORD_SCHEMA_VERSION = 1;

/** Transport protocol as Zeek names it in conn.log. */
export type TransportProto = 'tcp' | 'udp' | 'icmp' | 'unknown_transport';

/**
 * Zeek connection states (conn.log `conn_state`):
 * - S0     connection attempt seen, no reply.
 * - S1     connection established, not terminated.
 * - SF     normal establishment and termination (also the state of UDP/ICMP flows with traffic
 *          both ways is usually `SF` or `S0`/`SHR`, as Zeek assigns it).
 * - REJ    connection attempt rejected (SYN answered by RST).
 * - S2     established, close attempt by originator seen (but no reply from responder).
 * - S3     established, close attempt by responder seen (but no reply from originator).
 * - RSTO   established, originator aborted (sent a RST).
 * - RSTR   responder sent a RST.
 * - RSTOS0 originator sent a SYN followed by a RST, never saw a SYN-ACK from the responder.
 * - RSTRH  responder sent a SYN ACK followed by a RST, never saw a SYN from the originator.
 * - SH     originator sent a SYN followed by a FIN, never saw a SYN ACK from the responder.
 * - SHR    responder sent a SYN ACK followed by a FIN, never saw a SYN from the originator.
 * - OTH    no SYN seen, just midstream traffic (one example: a partial connection not later closed).
 */
export type ConnState =
  | 'S0'
  | 'S1'
  | 'SF'
  | 'REJ'
  | 'S2'
  | 'S3'
  | 'RSTO'
  | 'RSTR'
  | 'RSTOS0'
  | 'RSTRH'
  | 'SH'
  | 'SHR'
  | 'OTH';

export const CONN_STATES: readonly ConnState[] = [
  'S0',
  'S1',
  'SF',
  'REJ',
  'S2',
  'S3',
  'RSTO',
  'RSTR',
  'RSTOS0',
  'RSTRH',
  'SH',
  'SHR',
  'OTH',
];

/**
 * One connection, with the field names and meaning of Zeek's conn.log (`Conn::Info`). A flow
 * assembled from packets and a line of Zeek's conn.log mean the same thing.
 */
export interface FlowRecord {
  kind: 'flow';
  /** Time of the first packet of the connection, seconds since the epoch. */
  ts: number;
  /** Zeek's connection uid (e.g. `CHhAvVGS1DHFjwGM9`); unique per connection, joins the other logs. */
  uid: string;
  /** Originator address: the host that sent the first packet (or the SYN) — `id.orig_h`. */
  orig_h: string;
  /** Originator port — `id.orig_p`. For ICMP Zeek stores the ICMP type here. */
  orig_p: number;
  /** Responder address — `id.resp_h`. */
  resp_h: string;
  /** Responder port — `id.resp_p`. For ICMP Zeek stores the ICMP code here. */
  resp_p: number;
  /** Transport protocol. */
  proto: TransportProto;
  /**
   * Application protocol(s) Zeek's analyzers recognised, comma-separated (`ssl,http`); a
   * leading `-` on a name means the analyzer was confirmed and later disabled. Unset when none.
   */
  service?: string;
  /** Seconds between the first and the last packet. Unset for single-packet connections in Zeek. */
  duration?: number;
  /** Payload bytes sent by the originator (from TCP sequence numbers for TCP). Unset when unknown. */
  orig_bytes?: number;
  /** Payload bytes sent by the responder. Unset when unknown. */
  resp_bytes?: number;
  /** Final (or, for interim records, current) connection state; see ConnState. */
  conn_state?: ConnState;
  /** True when the originator is in Zeek's `Site::local_nets` (`local_orig`). Unset when Zeek did not say. */
  local_orig?: boolean;
  /** True when the responder is in Zeek's `Site::local_nets` (`local_resp`). Unset when Zeek did not say. */
  local_resp?: boolean;
  /** Bytes missed in content gaps (sequence-number holes), a sign of capture loss. */
  missed_bytes?: number;
  /**
   * Zeek's connection history: one letter per event, upper case from the originator, lower case
   * from the responder (s SYN, h SYN-ACK, a pure ACK, d data, f FIN, r RST, c bad checksum,
   * g content gap, t retransmission, w zero window, i inconsistent, q multi-flag, ^ direction
   * flipped). Letters repeat on an exponential scale (1, 10, 100… occurrences).
   */
  history?: string;
  /** Packets sent by the originator. */
  orig_pkts?: number;
  /** IP-level bytes sent by the originator (IP headers included). */
  orig_ip_bytes?: number;
  /** Packets sent by the responder. */
  resp_pkts?: number;
  /** IP-level bytes sent by the responder. */
  resp_ip_bytes?: number;
  /** Uids of the tunnel connections this one was carried in (Zeek's `tunnel_parents` set). */
  tunnel_parents?: string[];
  /** IP protocol number of the connection (6, 17, 1, 58, 132…): Zeek 7's `ip_proto` column. */
  ip_proto?: number;
  /** Outer 802.1Q VLAN id, when Zeek's vlan logging is on or the capture saw a tag. */
  vlan?: number;
  /** Inner 802.1Q VLAN id (QinQ). */
  inner_vlan?: number;
  /**
   * Server name when known: TLS SNI, HTTP Host, or a DNS answer for resp_h. Filled by joins
   * with ssl/http/dns logs or by packet decoders; not a conn.log column.
   */
  server_name?: string;
  /**
   * True for a periodic report of a connection that is still open (the flow table emits these
   * so long-lived channels are visible before they close). Counters are totals so far.
   */
  interim?: boolean;
}

/** Windows logon-family event (4624, 4625, 4634, 4648, 4672, 4768, 4771, 4776, ...). */
export interface AuthEvent {
  kind: 'auth';
  /** Event time (`TimeCreated`), seconds since the epoch. */
  ts: number;
  /** Windows event id. */
  event_id: number;
  /** Computer that logged the event (the target host). */
  computer: string;
  /** Account the logon was for (`TargetUserName`). */
  target_user?: string;
  /** Domain of that account (`TargetDomainName`). */
  target_domain?: string;
  /** Logon type (2 interactive, 3 network, 4 batch, 5 service, 7 unlock, 8 cleartext, 9 new credentials, 10 remote interactive, 11 cached). */
  logon_type?: number;
  /** Source address of the logon (`IpAddress`), when the event names one. */
  source_ip?: string;
  /** Source workstation name (`WorkstationName`). */
  source_workstation?: string;
  /** NTSTATUS of a failure (`Status`), hex string such as `0xc000006d`. */
  status?: string;
  /** NTSTATUS sub-status of a failure (`SubStatus`). */
  sub_status?: string;
  /** Logon session id (`TargetLogonId`), hex string. */
  logon_id?: string;
  /** Process that requested the logon (`ProcessName`). */
  process?: string;
}

/** Any other Windows event, kept as name/value data. */
export interface HostEvent {
  kind: 'host';
  /** Event time, seconds since the epoch. */
  ts: number;
  event_id: number;
  /** Event provider (`Microsoft-Windows-Security-Auditing`, `Microsoft-Windows-Sysmon`, ...). */
  provider: string;
  /** Channel (`Security`, `System`, ...). */
  channel?: string;
  computer: string;
  /** EventData / UserData as flat name → value strings. */
  data: Record<string, string>;
}

/** Generic organisational activity (e-mail metadata rows, file-repository access rows, ...). */
export interface ActivityEvent {
  kind: 'activity';
  /** Event time, seconds since the epoch. */
  ts: number;
  /** Who acted (user, mailbox, host). */
  entity: string;
  /** What was done (`send`, `download`, `login`, ...). */
  action: string;
  /** What it was done to (recipient domain, repository, file path). */
  object?: string;
  /** Size in bytes, when the source has one. */
  size?: number;
}

export type VigilRecord = FlowRecord | AuthEvent | HostEvent | ActivityEvent;
