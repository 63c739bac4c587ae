// Configuration of the `pcap` collector: capture files read once, or a live interface.

import { z } from 'zod';

export const pcapCollectorConfigSchema = z
  .strictObject({
    files: z
      .array(z.string().min(1))
      .default([])
      .describe('pcap/pcapng files read once; a file read to its end (same size and time) is not read again.'),
    interface: z.string().min(1).optional().describe('Live capture on this interface (libpcap via `cap`; root or CAP_NET_RAW).'),
    filter: z.string().optional().describe('BPF filter for the live capture (tcpdump syntax).'),
    bufferMiB: z
      .number()
      .int()
      .min(8)
      .max(4096)
      .default(128)
      .describe('Kernel ring buffer of the live capture, MiB (large: a burst must not overflow it while JS is busy).'),
    checksums: z
      .enum(['verify', 'ignore'])
      .default('ignore')
      .describe('`ignore` (default, as zeek -C: NIC offload makes local packets look bad) or `verify` (drop bad-checksum packets).'),
    maxFlows: z.number().int().min(1000).default(200_000).describe('Most open connections; at the cap the flow nearest to its timeout is evicted (`evicted`).'),
    interimSeconds: z
      .number()
      .min(0)
      .default(300)
      .describe('Report long-lived connections every this many seconds while open (0: only when they end).'),
    maxQueue: z
      .number()
      .int()
      .min(1000)
      .default(100_000)
      .describe('Live capture: finished flows waiting for the detectors; beyond it they are dropped and counted (`dropped`).'),
  })
  .describe('Packet input: capture files or a live interface, assembled into connections with Zeek semantics.');

export type PcapCollectorConfig = z.infer<typeof pcapCollectorConfigSchema>;
