/**
 * The kernel equivalent of a link profile on a real board: `tc netem` for delay, jitter and
 * loss, under a `tbf` for the rate, on the board's interface for the upload direction, and on
 * an `ifb` device (ingress redirected to it) for the download direction. netem's loss is packet
 * loss, which TCP turns into the retransmission stalls that the userspace emulator models
 * directly. Outages and disconnects have no qdisc: script them with `ip link set DEV down/up`.
 * Run as root on the board; `tc qdisc del dev DEV root; tc qdisc del dev DEV ingress` undoes it.
 */
import type { DirectionSpec, LinkProfile } from './link-profiles.ts';
import { burstBytes } from './link-direction.ts';

function shape(dev: string, d: DirectionSpec, lossPct: number): string[] {
  // netem's jitter is uniform in [delay - j, delay + j] (its default, no distribution table); the
  // emulator's is uniform in [latency, latency + jitter]: the same interval
  const half = d.jitterMs / 2;
  const netem = [`delay ${d.latencyMs + half}ms`, d.jitterMs > 0 ? `${half}ms` : '', lossPct > 0 ? `loss ${Number(lossPct.toPrecision(3))}%` : '']
    .filter(Boolean)
    .join(' ');
  const out = [`tc qdisc add dev ${dev} root handle 1: netem ${netem}`];
  if (d.rateKbit > 0) out.push(`tc qdisc add dev ${dev} parent 1: handle 2: tbf rate ${d.rateKbit}kbit burst ${Math.ceil(burstBytes(d.rateKbit))} latency 400ms`);
  return out;
}

/** Shell commands that give interface `dev` the profile (root, iproute2, the ifb module). */
export function netemCommands(p: LinkProfile, dev: string, ifb = 'ifb0'): string[] {
  const loss = p.stallProbability * 100;
  return [
    `# ${p.name}: ${p.label}`,
    `# upload (board -> broker) on ${dev}`,
    ...shape(dev, p.up, loss),
    `# download (broker -> board): redirect ${dev}'s ingress to ${ifb} and shape it there`,
    `modprobe ifb numifbs=1 && ip link set dev ${ifb} up`,
    `tc qdisc add dev ${dev} handle ffff: ingress`,
    `tc filter add dev ${dev} parent ffff: matchall action mirred egress redirect dev ${ifb}`,
    ...shape(ifb, p.down, loss),
    ...p.schedule.map((e) => `# ${e.kind} at ${e.atMs} ms for ${e.forMs} ms${e.everyMs ? `, every ${e.everyMs} ms` : ''}: ip link set ${dev} down; sleep ${e.forMs / 1000}; ip link set ${dev} up`),
  ];
}
