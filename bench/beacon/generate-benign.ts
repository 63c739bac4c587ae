// Benign traffic of the beacon benchmark: the periodic services that look like beacons (NTP,
// updaters, telemetry, monitoring, mail polling, push channels, AV updates, sync with backoff,
// unique per-host SaaS agents) and the irregular bulk of an office (browsing, DNS, file servers,
// streaming, backups, cloud storage, failed retries, API clients).

import {
  type Dest,
  type Host,
  type Interval,
  type PairMeta,
  clipIntervals,
  randAlnum,
  smallDur,
  wordDomain,
  DAY,
  HOUR,
  localMidnight,
  type GeneratorContext,
} from './generate-util.js';

export interface BenignContext extends GeneratorContext {
  subnet: number;
  org: string;
}

type Svc = (name: string, port?: number, service?: string, nIps?: number) => Dest;

const POPULAR_SITES = [
  'www.google.com', 'www.youtube.com', 'www.linkedin.com', 'en.wikipedia.org', 'www.amazon.com', 'www.bbc.co.uk',
  'www.nytimes.com', 'github.com', 'stackoverflow.com', 'www.reddit.com', 'news.ycombinator.com', 'www.microsoft.com',
  'login.microsoftonline.com', 'docs.google.com', 'mail.google.com', 'outlook.office.com', 'www.office.com',
  'www.bing.com', 'duckduckgo.com', 'www.cnn.com', 'www.theguardian.com', 'www.ebay.com', 'www.paypal.com',
  'www.atlassian.com', 'www.dropbox.com', 'weather.com', 'medium.com', 'www.notion.so', 'www.figma.com',
  'www.canva.com', 'chatgpt.com', 'www.salesforce.com', 'app.hubspot.com', 'www.zoom.us', 'www.apple.com',
  'www.instagram.com', 'www.facebook.com', 'x.com', 'www.twitch.tv', 'www.netflix.com', 'www.imdb.com',
  'www.booking.com', 'www.tripadvisor.com', 'www.indeed.com', 'www.glassdoor.com', 'www.forbes.com',
  'www.bloomberg.com', 'www.reuters.com', 'www.wsj.com', 'www.espn.com', 'developer.mozilla.org', 'docs.python.org',
  'www.npmjs.com', 'hub.docker.com', 'aws.amazon.com', 'portal.azure.com', 'console.cloud.google.com',
  'www.w3schools.com', 'translate.google.com', 'maps.google.com',
];

const THIRD_PARTY = [
  'www.google-analytics.com', 'www.googletagmanager.com', 'fonts.googleapis.com', 'fonts.gstatic.com',
  'www.gstatic.com', 'ajax.googleapis.com', 'cdnjs.cloudflare.com', 'cdn.jsdelivr.net', 'connect.facebook.net',
  'static.doubleclick.net', 'securepubads.g.doubleclick.net', 'pagead2.googlesyndication.com', 'bat.bing.com',
  'js.hs-scripts.com', 'cdn.segment.com', 'script.hotjar.com', 'i.ytimg.com', 'static.licdn.com',
  'platform.twitter.com', 's.yimg.com', 'assets.adobedtm.com', 'use.typekit.net', 'unpkg.com', 'cdn.cookielaw.org',
  'geolocation.onetrust.com', 'www.youtube-nocookie.com', 'stats.g.doubleclick.net', 'c.clarity.ms',
  'snap.licdn.com', 'px.ads.linkedin.com', 'www.recaptcha.net', 'js.stripe.com', 'cdn.shopify.com',
  'd3e54v103j8qbb.cloudfront.net', 'd1af033869koo7.cloudfront.net', 'static.zdassets.com', 'widget.intercom.io',
  'api.mixpanel.com', 'sentry.io', 'browser.sentry-cdn.com',
];

const OCSP = ['ocsp.digicert.com', 'ocsp.pki.goog', 'r10.o.lencr.org', 'ocsp.sectigo.com', 'ocsp.globalsign.com'];

interface Periodic {
  name: string;
  port?: number;
  service?: string;
  period: [number, number];
  /** Relative spread of each gap (uniform ±). */
  spread: number;
  ob: [number, number];
  rb: [number, number];
  /** Only while the user works. */
  work?: boolean;
  family: string;
  /** Probability a host of the OS runs it. */
  p: number;
}

const TELEMETRY: Record<string, Periodic[]> = {
  win: [
    { name: 'v10.events.data.microsoft.com', period: [300, 900], spread: 0.35, ob: [2500, 1.2], rb: [300, 0.4], family: 'telemetry', p: 0.9 },
    { name: 'self.events.data.microsoft.com', period: [600, 900], spread: 0.3, ob: [3000, 1], rb: [300, 0.4], family: 'telemetry', p: 0.6 },
    { name: 'browser.events.data.msn.com', period: [300, 600], spread: 0.4, ob: [1800, 1], rb: [250, 0.3], family: 'telemetry', p: 0.5, work: true },
    { name: 'ecs.office.com', period: [600, 900], spread: 0.3, ob: [900, 0.5], rb: [4000, 0.8], family: 'telemetry', p: 0.7, work: true },
    { name: 'nexus.officeapps.live.com', period: [300, 900], spread: 0.4, ob: [4000, 1.2], rb: [200, 0.3], family: 'telemetry', p: 0.5, work: true },
    { name: 'settings-win.data.microsoft.com', period: [3600, 7200], spread: 0.3, ob: [1200, 0.3], rb: [6000, 0.5], family: 'update', p: 0.8 },
    { name: 'slscr.update.microsoft.com', period: [3600, 14400], spread: 0.4, ob: [2000, 0.4], rb: [8000, 0.6], family: 'update', p: 0.7 },
    { name: 'fe2cr.update.microsoft.com', period: [3600, 14400], spread: 0.5, ob: [3000, 0.4], rb: [12000, 0.8], family: 'update', p: 0.5 },
    { name: 'definitionupdates.microsoft.com', period: [3600, 14400], spread: 0.3, ob: [1500, 0.3], rb: [20000, 1.5], family: 'avupdate', p: 0.85 },
    { name: 'client.wns.windows.com', period: [1200, 3600], spread: 0.6, ob: [2500, 0.5], rb: [3000, 0.5], family: 'push', p: 0.9 },
    { name: 'config.edge.skype.com', period: [1800, 3600], spread: 0.3, ob: [800, 0.3], rb: [3000, 0.4], family: 'telemetry', p: 0.4, work: true },
  ],
  mac: [
    { name: 'xp.apple.com', period: [600, 1800], spread: 0.4, ob: [2000, 1], rb: [400, 0.4], family: 'telemetry', p: 0.8 },
    { name: 'gateway.icloud.com', period: [900, 3600], spread: 0.5, ob: [1500, 0.6], rb: [3000, 0.8], family: 'calsync', p: 0.7 },
    { name: 'gdmf.apple.com', period: [3600, 14400], spread: 0.4, ob: [900, 0.3], rb: [5000, 0.5], family: 'update', p: 0.8 },
    { name: 'swscan.apple.com', period: [3600 * 6, 3600 * 12], spread: 0.3, ob: [1200, 0.3], rb: [40000, 0.6], family: 'update', p: 0.7 },
    { name: 'metrics.icloud.com', period: [300, 900], spread: 0.5, ob: [2500, 1], rb: [300, 0.4], family: 'telemetry', p: 0.6 },
  ],
  linux: [
    { name: 'security.ubuntu.com', port: 80, service: 'http', period: [3600 * 4, 3600 * 12], spread: 0.5, ob: [600, 0.3], rb: [30000, 1.2], family: 'update', p: 0.7 },
    { name: 'motd.ubuntu.com', period: [3600 * 6, 3600 * 12], spread: 0.4, ob: [700, 0.2], rb: [900, 0.3], family: 'update', p: 0.4 },
    { name: 'api.snapcraft.io', period: [3600 * 4, 3600 * 8], spread: 0.4, ob: [1500, 0.4], rb: [4000, 0.6], family: 'update', p: 0.4 },
    { name: 'changelogs.ubuntu.com', port: 80, service: 'http', period: [3600 * 6, 3600 * 24], spread: 0.4, ob: [400, 0.2], rb: [2000, 0.3], family: 'update', p: 0.3 },
  ],
  any: [
    { name: 'update.googleapis.com', period: [3600 * 2, 3600 * 5], spread: 0.3, ob: [1800, 0.4], rb: [1500, 0.6], family: 'update', p: 0.7 },
    { name: 'clientservices.googleapis.com', period: [1800, 3600], spread: 0.5, ob: [900, 0.4], rb: [2500, 0.6], family: 'telemetry', p: 0.6, work: true },
    { name: 'safebrowsing.googleapis.com', period: [1800, 1800], spread: 0.2, ob: [700, 0.3], rb: [3000, 1], family: 'telemetry', p: 0.6 },
    { name: 'incoming.telemetry.mozilla.org', period: [300, 1200], spread: 0.5, ob: [3500, 1], rb: [200, 0.2], family: 'telemetry', p: 0.12, work: true },
    { name: 'aus5.mozilla.org', period: [3600 * 2, 3600 * 12], spread: 0.3, ob: [800, 0.3], rb: [1200, 0.4], family: 'update', p: 0.12 },
    { name: 'api.segment.io', period: [300, 900], spread: 0.6, ob: [2500, 1], rb: [150, 0.3], family: 'telemetry', p: 0.25, work: true },
    { name: 'in.appcenter.ms', period: [300, 900], spread: 0.5, ob: [2000, 1], rb: [200, 0.3], family: 'telemetry', p: 0.2, work: true },
    { name: 'armmf.adobe.com', period: [3600 * 2, 3600 * 6], spread: 0.4, ob: [700, 0.3], rb: [2000, 0.4], family: 'update', p: 0.3 },
    { name: 'zoom.us', period: [1800, 3600], spread: 0.5, ob: [1200, 0.5], rb: [3000, 0.6], family: 'update', p: 0.35, work: true },
  ],
  server: [
    { name: 'api.datadoghq.com', period: [60, 60], spread: 0.05, ob: [1500, 0.5], rb: [250, 0.2], family: 'telemetry', p: 0.25 },
    { name: 'http-intake.logs.datadoghq.com', period: [300, 900], spread: 0.6, ob: [25000, 1.2], rb: [200, 0.2], family: 'telemetry', p: 0.25 },
    { name: 'collector.newrelic.com', period: [60, 60], spread: 0.03, ob: [4000, 0.8], rb: [300, 0.3], family: 'telemetry', p: 0.1 },
    { name: 'hc-ping.com', period: [300, 3600], spread: 0.002, ob: [350, 0.05], rb: [250, 0.05], family: 'scrape', p: 0.08 },
    { name: 'packages.microsoft.com', period: [3600 * 4, 3600 * 12], spread: 0.4, ob: [800, 0.3], rb: [20000, 1], family: 'update', p: 0.2 },
    { name: 'sts.amazonaws.com', period: [900, 900], spread: 0.02, ob: [1500, 0.2], rb: [1800, 0.2], family: 'apiclient', p: 0.15 },
  ],
};

const API_SAAS = [
  'api.stripe.com', 'hooks.slack.com', 'api.github.com', 'sqs.us-east-1.amazonaws.com', 'api.twilio.com',
  'graph.microsoft.com', 'www.googleapis.com', 'api.openai.com', 's3.amazonaws.com', 'api.sendgrid.com',
  'api.pagerduty.com', 'oauth2.googleapis.com',
];

export function generateBenign(ctx: BenignContext, uniqueShare: number): void {
  const { r, book, sink, hosts, w0, w1, subnet, org } = ctx;
  const dests = new Map<string, Dest>();
  const svc: Svc = (name, port = 443, service = 'ssl', nIps = 3) => {
    const k = `${name}|${port}`;
    let d = dests.get(k);
    if (d === undefined) {
      book.claim(name);
      d = { ips: book.ips(nIps), port, proto: 'tcp', service, name, rtt: r.u(0.005, 0.12) };
      dests.set(k, d);
    }
    return d;
  };
  const internal = (last: number, port: number, proto: 'tcp' | 'udp', service: string | undefined, name?: string): Dest => {
    const d: Dest = { ips: [`10.${subnet}.0.${last}`], port, proto, local: true, rtt: r.u(0.0003, 0.002) };
    if (service !== undefined) d.service = service;
    if (name !== undefined) d.name = name;
    return d;
  };
  const inWin = (iv: Interval[]): Interval[] => clipIntervals(iv, w0, w1);
  const meta = (family: string, period?: number): PairMeta => (period === undefined ? { label: 'benign', family } : { label: 'benign', family, period });

  /** An exchange of a few kB on a fresh connection. */
  const exchange = (t: number, h: Host, d: Dest, ob: number, rb: number, m: PairMeta): void => {
    sink.conn(t, h, d, ob, rb, smallDur(r, d, ob, rb, d.service === 'ssl'), m);
  };

  /** A timer process running while `iv`: first tick at a random phase, then gaps. */
  const timer = (iv: Interval[], gap: () => number, tick: (t: number) => void, phase?: number): void => {
    for (const [a, b] of iv) {
      let t = a + (phase ?? gap() * r.next());
      while (t < b) {
        tick(t);
        t += Math.max(0.5, gap());
      }
    }
  };

  const long = (h: Host, iv: Interval[], d: Dest, mean: number, m: PairMeta, rateBytes: number): void => {
    for (const [a, b] of iv) {
      let t = a + r.u(1, 60);
      while (t < b) {
        const dur = Math.min(b - t, r.logn(mean, 0.7));
        const ob = 900 + (dur / 60) * rateBytes * r.u(0.6, 1.4);
        const rb = 4000 + (dur / 60) * rateBytes * r.u(0.6, 1.4);
        sink.conn(t, h, d, ob, rb, dur, m, dur >= b - t - 1 ? 'S1' : r.chance(0.1) ? 'RSTR' : 'SF');
        t += dur + r.u(0.5, 45);
      }
    }
  };

  // Per-site asset names (created on first visit) and long-tail sites.
  const longTail: string[] = [];
  for (let i = 0; i < 1500; i++) longTail.push(`www.${wordDomain(r)}`);
  const sites = [...POPULAR_SITES, ...longTail];
  const assets = new Map<string, string[]>();
  const assetsOf = (site: string): string[] => {
    let a = assets.get(site);
    if (a === undefined) {
      const base = site.replace(/^www\./, '');
      a = [];
      const n = r.int(0, 2);
      for (let i = 0; i < n; i++) a.push(`${r.pick(['static', 'cdn', 'img', 'assets', 'media', 'api'])}${i > 0 ? i : ''}.${base}`);
      assets.set(site, a);
    }
    return a;
  };
  const tenantSharepoint = `${org.split('.')[0]}-my.sharepoint.com`;
  const orgSites = [`www.${org}`, `api.${org}`, `vpn.${org}`, `status.${org}`, `portal.${org}`];
  const ntpPool = book.ips(12);
  const appleNtp = book.ips(4);
  const dc = internal(10, 123, 'udp', 'ntp');
  const teamsRelays = book.ips(20);
  const avVendor = r.pick(['defender', 'crowdstrike', 'sophos', 'eset']);
  const avNames: Record<string, [string, number, number][]> = {
    defender: [],
    crowdstrike: [['ts01-b.cloudsink.net', 1800, 0], ['lfodown01-b.cloudsink.net', 3600 * 3, 1]],
    sophos: [['mcs2-cloudstation-eu-west-1.prod.hydra.sophos.com', 900, 0], ['sdds3.sophosupd.com', 3600, 1]],
    eset: [['update.eset.com', 3600, 1], ['edf.eset.com', 1800, 0]],
  };

  for (const h of hosts) {
    const on = inWin(h.on);
    const work = inWin(h.work);
    const isWs = h.kind === 'ws';
    // --- NTP -----------------------------------------------------------------------------------
    if (h.kind !== 'iot' || r.chance(0.5)) {
      let d: Dest;
      let maxPoll = 1024;
      if (h.os === 'win') {
        d = dc; // domain members sync with the domain controller
        maxPoll = r.pick([1024, 2048, 3600]);
      } else if (h.os === 'mac') {
        d = { ips: [r.pick(appleNtp)], port: 123, proto: 'udp', service: 'ntp', rtt: 0.03 };
      } else {
        d = { ips: [r.pick(ntpPool)], port: 123, proto: 'udp', service: 'ntp', rtt: 0.03 };
      }
      const servers = h.os === 'linux' ? [d, { ...d, ips: [r.pick(ntpPool)] }, { ...d, ips: [r.pick(ntpPool)] }] : [d];
      for (const s of servers) {
        for (const [a, b] of on) {
          let poll = 64;
          let t = a + r.u(2, 30);
          while (t < b) {
            sink.conn(t, h, s, 48, 48, s.rtt * r.u(0.9, 1.5), meta('ntp', maxPoll));
            t += poll * r.u(0.97, 1.03);
            if (poll < maxPoll) poll = Math.min(maxPoll, poll * 2);
          }
        }
      }
    }
    // --- Periodic OS / app services -------------------------------------------------------------
    if (h.kind !== 'iot') {
      const lists: Periodic[] = [...(TELEMETRY[h.os] ?? []), ...(h.kind === 'ws' ? TELEMETRY.any : TELEMETRY.server)];
      for (const p of lists) {
        if (!r.chance(p.p)) continue;
        const d = svc(p.name, p.port ?? 443, p.service ?? 'ssl');
        const period = r.u(p.period[0], p.period[1]);
        const m = meta(p.family, Math.round(period));
        const iv = p.work === true && isWs ? work : on;
        const offset = r.u(0, period);
        timer(
          iv,
          () => period * (1 + p.spread * (2 * r.next() - 1)),
          (t) => {
            const ob = r.logn(p.ob[0], p.ob[1]);
            let rb = r.logn(p.rb[0], p.rb[1]);
            if (p.family === 'update' && r.chance(0.03)) rb += r.logn(3e7, 1.2); // a download
            if (p.family === 'push') {
              const dur = r.logn(Math.min(period, 1800), 0.6);
              sink.conn(t, h, d, ob + dur * 2, rb + dur * 2, dur, m, r.chance(0.15) ? 'RSTR' : 'SF');
            } else exchange(t, h, d, ob, rb, m);
          },
          offset,
        );
      }
      // Third-party AV / EDR
      if (h.os === 'win' || h.os === 'mac') {
        for (const [name, period, kind] of avNames[avVendor]) {
          const d = svc(name);
          const m = meta(kind === 0 ? 'push' : 'avupdate', period);
          if (kind === 0) long(h, on, d, period, m, 300);
          else
            timer(on, () => period * r.u(0.8, 1.2), (t) => exchange(t, h, d, r.logn(1200, 0.3), r.logn(30000, 1.5), m));
        }
      }
    }
    if (isWs) {
      // --- Push channels: long connections with reconnects ---------------------------------------
      if (r.chance(0.6)) long(h, on, svc('mtalk.google.com', 5228), 1700, meta('push'), 60);
      if (h.os === 'mac') long(h, on, svc(`${r.int(1, 50)}-courier.push.apple.com`, 5223), 3000, meta('push'), 40);
      const chat = r.wpick([['teams', 0.6], ['slack', 0.3], ['none', 0.1]]);
      if (chat === 'slack') long(h, work, svc('wss-primary.slack.com'), 900, meta('push'), 500);
      if (chat === 'teams') long(h, work, svc('trouter-neu-a.trouter.teams.microsoft.com'), 1200, meta('push'), 400);
      // --- Calendar / chat sync with backoff -----------------------------------------------------
      const syncName = chat === 'slack' ? 'slack.com' : chat === 'teams' ? 'teams.microsoft.com' : 'calendar.google.com';
      {
        const d = svc(syncName);
        const m = meta('calsync');
        const base = r.u(30, 120);
        const cap = r.u(600, 1800);
        for (const [a, b] of work) {
          let t = a + r.u(5, 120);
          let g = base;
          while (t < b) {
            exchange(t, h, d, r.logn(1200, 0.5), r.logn(3000, 1), m);
            g = r.chance(0.15) ? base : Math.min(cap, g * 2); // user activity resets the backoff
            t += g * r.u(0.9, 1.1);
          }
        }
      }
      // --- Mail polling ---------------------------------------------------------------------------
      if (r.chance(0.85)) {
        const kind = r.wpick([['exo', 0.75], ['imap', 0.15], ['gmail', 0.1]]);
        const d =
          kind === 'exo' ? svc('outlook.office365.com') : kind === 'imap' ? svc('imap.gmail.com', 993) : svc('mail.google.com');
        const period = r.pick([60, 120, 300, 600]);
        const m = meta('mailpoll', period);
        timer(work, () => period * r.u(0.95, 1.08), (t) => exchange(t, h, d, r.logn(1500, 0.6), r.logn(2500, 1.2), m));
      }
      // --- Browsing --------------------------------------------------------------------------------
      const rate = r.u(2, 7) / HOUR;
      for (const [a, b] of work) {
        let t = a + r.exp(1 / rate);
        while (t < b) {
          const visits = r.int(1, 6);
          let tv = t;
          for (let v = 0; v < visits && tv < b; v++) {
            const site = r.chance(0.08) ? r.pick(orgSites) : sites[r.zipf(sites.length, 1.05)];
            const names = [site, ...assetsOf(site)];
            const k = r.int(0, 4);
            for (let i = 0; i < k; i++) names.push(THIRD_PARTY[r.zipf(THIRD_PARTY.length, 0.9)]);
            if (r.chance(0.12)) names.push(r.pick(OCSP));
            for (const name of names) {
              const http = OCSP.includes(name);
              const d = http ? svc(name, 80, 'http', 2) : svc(name);
              const n = name === site ? r.int(1, 6) : r.int(1, 2);
              for (let c = 0; c < n; c++) {
                const ts = tv + r.u(0, name === site ? 2 : 4);
                const ob = r.logn(http ? 450 : 1800, 0.6);
                const rb = r.logn(http ? 1500 : 30000, 1.6);
                const dur = http ? smallDur(r, d, ob, rb, false) : Math.min(300, r.logn(8, 1.3));
                sink.conn(ts, h, d, ob, rb, dur, meta('browsing'), r.chance(0.03) ? 'RSTO' : 'SF');
              }
            }
            tv += r.logn(45, 1.2);
          }
          t = tv + r.exp(1 / rate);
        }
      }
      // --- Internal file server and domain controller --------------------------------------------
      if (h.os === 'win' || r.chance(0.4)) {
        const fs = internal(20 + (h.idx % 2), 445, 'tcp', 'smb', `fs0${1 + (h.idx % 2)}.corp.${org}`);
        for (const [a, b] of work) {
          const dur = b - a - r.u(1, 60);
          if (dur > 60) sink.conn(a + r.u(1, 60), h, fs, r.logn(3e5, 1.5), r.logn(3e6, 1.5), dur, meta('fileserver'), 'SF');
          let t = a + r.exp(1800);
          while (t < b) {
            exchange(t, h, fs, r.logn(2e4, 1.5), r.logn(2e5, 2), meta('fileserver'));
            t += r.exp(1800);
          }
        }
        if (h.os === 'win') {
          const ldap = internal(10, 389, 'tcp', 'ldap', `dc01.corp.${org}`);
          const krb = internal(10, 88, 'tcp', 'krb_tcp', `dc01.corp.${org}`);
          for (const [a, b] of on) {
            let t = a + r.exp(600);
            while (t < b) {
              exchange(t, h, r.chance(0.7) ? ldap : krb, r.logn(1500, 0.7), r.logn(3000, 0.9), meta('directory'));
              t += r.exp(r.chance(0.5) ? 300 : 1200);
            }
          }
        }
      }
      // --- Streaming and meetings --------------------------------------------------------------------
      if (work.length > 0 && r.chance(0.35)) {
        const sessions = r.int(1, 3);
        for (let i = 0; i < sessions; i++) {
          const [a, b] = r.pick(work);
          const t = r.u(a, b);
          const dur = Math.min(b - t, r.u(900, 3600));
          if (dur < 60) continue;
          const kind = r.wpick([['yt', 0.4], ['spotify', 0.3], ['meeting', 0.3]]);
          if (kind === 'yt') {
            const d = svc(`rr${r.int(1, 6)}---sn-${randAlnum(r, 4, 'abcdefghijklmnopqrstuvwxyz')}${r.int(1, 9)}.googlevideo.com`, 443, 'ssl', 1);
            for (let c = 0; c < r.int(1, 4); c++) sink.conn(t + c * r.u(1, 300), h, d, r.logn(3e4, 0.5), dur * r.u(2e5, 6e5), dur / r.u(1, 3), meta('streaming'));
          } else if (kind === 'spotify') {
            const d = svc(`audio4-ak-spotify-com.akamaized.net`);
            let tt = t;
            while (tt < t + dur) {
              const dd = r.u(150, 300);
              sink.conn(tt, h, d, r.logn(2000, 0.3), dd * r.u(1.5e4, 4e4), r.u(2, 20), meta('streaming'));
              tt += dd;
            }
          } else {
            const d: Dest = { ips: [r.pick(teamsRelays)], port: r.int(3478, 3481), proto: 'udp', rtt: 0.03 };
            sink.conn(t, h, d, dur * r.u(8e4, 2e5), dur * r.u(1e5, 3e5), dur, meta('streaming'));
          }
        }
      }
      // --- Cloud storage sync: change-driven uploads and a notification channel ------------------
      if (r.chance(0.5)) {
        const drop = r.chance(0.3);
        const up = drop ? svc('content.dropboxapi.com') : svc(tenantSharepoint);
        const notify = drop ? svc('bolt.dropbox.com') : svc('skyapi.onedrive.live.com');
        long(h, on, notify, drop ? 480 : 1500, meta('cloudsync'), 120);
        for (const [a, b] of work) {
          let t = a + r.exp(1200);
          while (t < b) {
            const n = r.int(1, 5);
            for (let i = 0; i < n; i++) exchange(t + i * r.u(0.5, 20), h, up, r.logn(1.5e5, 1.8), r.logn(2000, 0.5), meta('cloudsync'));
            t += r.exp(1200);
          }
        }
      }
      // --- Backups (nightly, desktops left on) --------------------------------------------------------
      if (!h.laptop && r.chance(0.25)) backup(h, on);
    }
    if (h.kind === 'server') {
      if (r.chance(0.7)) backup(h, on);
      // API clients: Poisson-like with a daily rhythm.
      const n = r.int(0, 3);
      for (let i = 0; i < n; i++) {
        const d = svc(r.pick(API_SAAS));
        const mean = r.logn(300, 1.2);
        for (const [a, b] of on) {
          let t = a + r.exp(mean);
          while (t < b) {
            exchange(t, h, d, r.logn(1500, 0.8), r.logn(3000, 1.2), meta('apiclient'));
            const hr = ((t - localMidnight(t, h.tz)) / HOUR) | 0;
            t += r.exp(hr >= 8 && hr < 19 ? mean : mean * 3);
          }
        }
      }
    }
    if (h.kind === 'monitor') {
      // Monitoring: checks of internal servers and health checks of the organisation's public sites.
      const targets = hosts.filter((x) => x.kind === 'server').slice(0, 20);
      for (const tg of targets) {
        const d: Dest = { ips: [tg.ip], port: r.pick([9100, 443, 5666, 161]), proto: 'tcp', service: 'http', local: true, rtt: 0.001 };
        if (d.port === 443) d.service = 'ssl';
        const period = r.pick([60, 60, 120, 300]);
        const m = meta('scrape', period);
        timer(on, () => period + r.normal() * 0.02, (t) => exchange(t, h, d, r.logn(250, 0.05), r.logn(9000, 0.3), m));
      }
      for (const name of orgSites.slice(0, 4)) {
        const d = svc(name);
        const period = r.pick([15, 30, 60]);
        const m = meta('scrape', period);
        timer(on, () => period + r.normal() * 0.01, (t) => exchange(t, h, d, r.logn(520, 0.02), r.logn(4200, 0.08), m));
      }
      const saas = svc(r.pick(['api.datadoghq.com', 'api.pingdom.com', 'api.statuspage.io']));
      const period = r.pick([15, 20, 30]);
      timer(on, () => period * r.u(0.99, 1.01), (t) => exchange(t, h, saas, r.logn(1800, 0.3), r.logn(300, 0.1), meta('scrape', period)));
    }
    if (h.kind === 'iot') {
      // Printers, cameras, room devices phoning home to their vendor's cloud.
      const vendor = r.pick(['hpeprint.com', 'meraki.com', 'ring.com', 'axis.cloud', 'polycom.com', 'logitech.io']);
      const d = svc(`devices.${vendor}`);
      const period = r.pick([120, 300, 600, 900]);
      timer(on, () => period * r.u(0.97, 1.03), (t) => exchange(t, h, d, r.logn(600, 0.2), r.logn(400, 0.2), meta('iot', period)));
    }
    // --- Failed retries with exponential backoff ------------------------------------------------
    if (r.chance(0.07)) {
      const named = r.chance(0.6);
      const d: Dest = named
        ? { ...svc(`${r.pick(['license', 'sync', 'telemetry', 'api', 'old'])}.${wordDomain(r)}`, r.pick([443, 8443, 80]), 'ssl', 1) }
        : { ips: [book.ip()], port: r.pick([443, 8080, 1883, 5222]), proto: 'tcp', rtt: 0.05 };
      const state = r.chance(0.6) ? 'S0' : 'REJ';
      const base = r.u(5, 30);
      const cap = r.pick([300, 600, 1800, 3600]);
      for (const [a, b] of on) {
        let t = a + r.u(10, 300);
        let g = base;
        while (t < b) {
          const tries = state === 'S0' ? r.int(1, 3) : 1;
          sink.conn(t, h, d, 0, 0, tries === 1 ? 0 : tries === 2 ? 1 : 3, meta('retries', cap), state, { synTries: tries });
          g = Math.min(cap, g * 2);
          t += g * r.u(0.85, 1.15);
          if (r.chance(0.01)) g = base; // the process restarted
        }
      }
    }
    // --- Software polling with exponential backoff ----------------------------------------------
    if (h.kind !== 'iot' && r.chance(0.1)) {
      const d = svc(`api.${wordDomain(r)}`);
      const base = r.u(20, 60);
      const cap = r.u(900, 3600);
      for (const [a, b] of on) {
        let t = a + r.u(5, 120);
        let g = base;
        while (t < b) {
          exchange(t, h, d, r.logn(900, 0.4), r.logn(1200, 1), meta('backoffpoll'));
          g = r.chance(0.1) ? base : Math.min(cap, g * r.u(1.5, 2));
          t += g;
        }
      }
    }
  }

  function backup(h: Host, on: Interval[]): void {
    const d = svc(r.pick(['s3.amazonaws.com', `${org.split('.')[0]}bkp.blob.core.windows.net`, 'f003.backblazeb2.com', 'backup.carbonite.com']));
    for (let day = localMidnight(w0, h.tz); day < w1; day += DAY) {
      const t = day + r.u(0.5, 3.5) * HOUR;
      if (!on.some(([a, b]) => t >= a && t < b)) continue;
      const n = r.int(1, 4);
      for (let i = 0; i < n; i++) {
        const size = r.logn(2e9, 1.2);
        sink.conn(t + i * r.u(1, 30), h, d, size, size / 2000, size / r.u(5e6, 5e7), meta('backup'));
      }
    }
  }

  // --- Hard negatives: periodic services unique to one host ---------------------------------------
  let benign = 0;
  for (const p of sink.pairs.values()) if (p.label === 'benign') benign++;
  const unique = Math.max(1, Math.round((benign * uniqueShare) / (1 - uniqueShare)));
  const mailHosts = hosts.filter((h) => h.kind === 'ws' && h.work.length > 0);
  const candidates = hosts.filter((h) => h.kind !== 'monitor');
  for (let i = 0; i < unique; i++) {
    let h = r.pick(candidates);
    const kind = r.wpick([['mailpoll', 0.25], ['saasagent', 0.35], ['license', 0.2], ['iot', 0.08], ['vpnkeepalive', 0.003], ['push', 0.12]]);
    if (kind === 'mailpoll' && mailHosts.length > 0) h = r.pick(mailHosts);
    const on = inWin(h.on);
    let d: Dest;
    let period: number;
    let spread = r.u(0.01, 0.1);
    let iv = on;
    switch (kind) {
      case 'mailpoll':
        d = svc(`${r.pick(['mail', 'imap', 'mx'])}.${wordDomain(r)}`, r.pick([993, 993, 995, 443]), 'ssl', 1);
        period = r.pick([60, 120, 300, 600]);
        iv = inWin(h.work);
        break;
      case 'saasagent':
        d = svc(`${randAlnum(r, r.int(6, 10), 'abcdefghijklmnopqrstuvwxyz')}.${r.pick(['agent', 'ingest', 'sensor', 'hb'])}.${wordDomain(r)}`, 443, 'ssl', 1);
        period = r.pick([60, 300, 300, 600, 900, 900, 1800, 3600, 3600]);
        spread = r.chance(0.5) ? r.u(0.001, 0.02) : r.u(0.05, 0.3);
        break;
      case 'license':
        d = svc(`lic${r.int(1, 9)}.${wordDomain(r)}`, 443, 'ssl', 1);
        period = r.pick([900, 1800, 3600]);
        spread = r.u(0, 0.02);
        break;
      case 'iot':
        d = r.chance(0.5)
          ? svc(`${randAlnum(r, 12)}.p2p.${wordDomain(r)}`, 443, 'ssl', 1)
          : { ips: [book.ip()], port: r.pick([8883, 1883, 5683, 10001]), proto: 'tcp', rtt: 0.08, service: 'ssl' };
        period = r.pick([120, 300, 600, 900]);
        break;
      case 'vpnkeepalive':
        d = { ips: [book.ip()], port: 51820, proto: 'udp', rtt: 0.04 };
        period = r.pick([25, 60, 120]);
        spread = 0.002;
        break;
      default:
        d = svc(`ws.${wordDomain(r)}`, 443, 'ssl', 1);
        period = r.pick([300, 600, 1800]);
    }
    const m = meta(kind, period);
    const ob0 = r.u(150, 2000);
    const rb0 = r.u(100, 3000);
    timer(iv, () => period * (1 + spread * (2 * r.next() - 1)), (t) => {
      if (kind === 'vpnkeepalive') sink.conn(t, h, d, 32, 32, 0.04, m);
      else if (kind === 'push') {
        const dur = Math.min(period * 0.95, r.logn(period * 0.8, 0.2));
        sink.conn(t, h, d, ob0 + dur, rb0 + dur, dur, m, 'SF');
      } else exchange(t, h, d, ob0 * r.u(0.9, 1.25), rb0 * (r.chance(0.05) ? r.u(2, 20) : r.u(0.9, 1.2)), m);
    });
  }
}
