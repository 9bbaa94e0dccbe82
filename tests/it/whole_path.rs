//! The whole path, with real packets from the internet side: clients → the load balancer's
//! listener → its members, and the load balancer's health checks, through route tables, an
//! internet gateway, a NAT gateway, network ACLs and security groups rendered from the
//! configuration itself (issue 15).
//!
//! Topology, built from the model (see [`world`]):
//!
//! * as in `scenarios`: a namespace per host (the agent, every member), each on a veth to a
//!   bridge of its subnet in a router namespace that owns the subnet's `.1`; network ACLs as
//!   stateless nftables chains on the bridges, security groups as stateful nftables on each host;
//! * a namespace per load balancer node (`nodes:`), in its subnet, carrying the load balancer's
//!   security groups (new connections to the node are judged before any address translation,
//!   new connections leaving it after). An ALB-like node is an nginx proxy that terminates the
//!   client's connection and opens its own to the members from the node's address; an NLB-like
//!   node rewrites the destination only (DNAT, the client's address kept, unless the group does
//!   not preserve it), and the router sends the members' answers back through that node, as
//!   AWS does, by connection mark and policy routing;
//! * route tables as policy routing in the router: `ip rule from <subnet> lookup <table>`, with
//!   each table's routes: `local` (and peering, transit, VPN, … targets, whose other side is in
//!   the same router) fall through to the router's connected subnets (`throw`), an
//!   `internet_gateway` route goes to the gateway namespace, a `nat_gateway` route to a NAT
//!   namespace that masquerades, `state: blackhole` is a blackhole route, and a table without a
//!   default route ends in a blackhole default, so nothing leaves that the table does not route;
//! * an internet gateway namespace that maps each node's `public_address` one to one to its
//!   address (DNAT in, SNAT out), forwards from the internet only to those addresses, and
//!   carries what the NAT namespace masquerades; the answers of a node leave by whatever its
//!   subnet's table says, so a subnet routed to the NAT gateway (or nowhere) never answers —
//!   except a Huawei node's, whose EIP is its internet side: what it sends outside the network
//!   goes to the gateway whatever the table says;
//! * a listener's access control (whitelist or blacklist) as nftables on its node, before the
//!   node forwards or proxies;
//! * a client namespace at 203.0.113.10/24 (documentation range) behind the gateway, where
//!   `probe check --from clients` runs.
//!
//! Each scenario is `tests/fixtures/whole-path/<name>.yaml`, and, for AWS, the same network as an
//! AWS dump (`aws/<name>/`, written by `aws/generate.py`); `probe check` runs from the YAML, from
//! the dump and from the YAML `probe import aws` makes of the dump, at once, and the three must
//! agree on every finding. The lab is built from the YAML. Huawei scenarios (`huawei-*.yaml`) run
//! from their YAML; their import is tested on the SDK-generated dump (`huawei.rs`).
//!
//! Every address lives in the lab's own namespaces; the lab is removed on drop.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use probe::config::Source;
use probe::model::{AppProto, IpProto, LbKind, RouteState, RouteTargetKind};
use serde_json::Value;

use crate::lab::{Lab, curl_in, in_netns};
use crate::scenarios::{
    HEALTHY, Topology, access_rule, acl_ruleset, finding, fixture, lines, prefix_len,
    render_report, sg_chains, verdict, web_servers,
};

/// The internet client.
const CLIENT: &str = "203.0.113.10";
const CLIENT_GW: &str = "203.0.113.1";
/// Transit links, inside the lab: router ↔ gateway, router ↔ NAT, NAT ↔ gateway.
const ROUTER_TO_IGW: (&str, &str) = ("192.0.2.1", "192.0.2.2");
const ROUTER_TO_NAT: (&str, &str) = ("192.0.2.5", "192.0.2.6");
const NAT_TO_IGW: (&str, &str) = ("192.0.2.9", "192.0.2.10");

/// The lab of one whole-path scenario.
struct World {
    t: Topology,
    /// The internet client's namespace.
    client: String,
    /// (namespace, address, public address) of every load balancer node.
    nodes: Vec<(String, IpAddr, Option<IpAddr>)>,
    /// The configuration the lab was built from, which `probe check` reads.
    config: PathBuf,
    /// The same configuration as an AWS dump, and as `probe import aws` turns it into YAML.
    dump: PathBuf,
    imported: PathBuf,
}

/// A load balancer node's MAC address, set so the router can tell its packets apart.
fn node_mac(j: usize) -> String {
    format!("02:00:00:00:01:{j:02x}")
}

/// Builds the lab of `tests/fixtures/whole-path/<name>.yaml`.
fn world(test: &str, name: &str) -> World {
    let config = fixture(&format!("whole-path/{name}.yaml"));
    // The fixture names its agent.
    let model = probe::config::load(&Source::Yaml(config.clone()), None).expect("fixture loads");
    let agent_addr = model
        .agent
        .address
        .expect("whole-path fixtures name the agent");
    let mut lab = Lab::new(test);
    let router = lab.namespace("router");
    lab.sysctl(&router, "net.ipv4.ip_forward", "1");
    for k in ["all", "default"] {
        lab.sysctl(&router, &format!("net.ipv4.conf.{k}.rp_filter"), "0");
    }
    lab.sh(
        &router,
        &[
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null; true",
        ],
    );

    // Hosts: the agent, every member, every load balancer node.
    let mut hosts: Vec<(String, IpAddr)> = vec![("agent".into(), agent_addr)];
    let members: Vec<_> = model
        .backend_groups
        .iter()
        .flat_map(|g| &g.members)
        .collect();
    for (i, m) in members.iter().enumerate() {
        hosts.push((format!("m{i}"), m.address));
    }
    let node_lbs: Vec<(usize, &probe::model::LbNode)> = model
        .load_balancers
        .iter()
        .enumerate()
        .flat_map(|(i, lb)| lb.nodes.iter().map(move |n| (i, n)))
        .filter(|(_, n)| n.address.is_ipv4())
        .collect();
    for (j, (_, n)) in node_lbs.iter().enumerate() {
        hosts.push((format!("n{j}"), n.address));
    }
    let mut bridges: Vec<String> = Vec::new();
    let mut names: Vec<(String, IpAddr)> = Vec::new();
    for (i, (role, addr)) in hosts.iter().enumerate() {
        let ns = lab.namespace(role);
        let (subnet, len, gw) = prefix_len(&model, *addr);
        let k = match bridges.iter().position(|b| *b == subnet) {
            Some(k) => k,
            None => {
                let k = bridges.len();
                bridges.push(subnet.clone());
                let br = format!("br{k}");
                lab.sh(&router, &["ip", "link", "add", &br, "type", "bridge"]);
                lab.add_address(&router, &format!("{gw}/{len}"), &br);
                lab.sh(&router, &["ip", "link", "set", &br, "up"]);
                k
            }
        };
        let port = format!("h{i}");
        lab.sh(
            &router,
            &[
                "ip", "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        );
        lab.sh(
            &router,
            &["ip", "link", "set", &port, "master", &format!("br{k}")],
        );
        lab.sh(&router, &["ip", "link", "set", &port, "up"]);
        if let Some(j) = role.strip_prefix('n') {
            let j: usize = j.parse().expect("node index");
            lab.sh(&ns, &["ip", "link", "set", "eth0", "address", &node_mac(j)]);
        }
        lab.add_address(&ns, &format!("{addr}/{len}"), "eth0");
        lab.sh(&ns, &["ip", "link", "set", "eth0", "up"]);
        lab.sh(&ns, &["ip", "route", "add", "default", "via", &gw]);
        names.push((ns, *addr));
    }
    let agent = names.remove(0).0;
    let node_ns: Vec<(String, IpAddr)> = names.split_off(members.len());
    let member_ns = names;

    lab.nft(&router, &acl_ruleset(&model, &bridges));

    // The internet side: gateway, NAT, client.
    let igw = lab.namespace("igw");
    let nat = lab.namespace("nat");
    let client = lab.namespace("inet");
    lab.link_named(
        &router,
        "gw0",
        &format!("{}/30", ROUTER_TO_IGW.0),
        &igw,
        "vpc",
        &format!("{}/30", ROUTER_TO_IGW.1),
    );
    lab.link_named(
        &router,
        "nat0",
        &format!("{}/30", ROUTER_TO_NAT.0),
        &nat,
        "vpc",
        &format!("{}/30", ROUTER_TO_NAT.1),
    );
    lab.link_named(
        &nat,
        "out",
        &format!("{}/30", NAT_TO_IGW.0),
        &igw,
        "nat",
        &format!("{}/30", NAT_TO_IGW.1),
    );
    lab.link_named(
        &igw,
        "inet",
        &format!("{CLIENT_GW}/24"),
        &client,
        "eth0",
        &format!("{CLIENT}/24"),
    );
    lab.sh(
        &client,
        &["ip", "route", "add", "default", "via", CLIENT_GW],
    );
    for ns in [&igw, &nat] {
        lab.sysctl(ns, "net.ipv4.ip_forward", "1");
    }
    let mut vpc: Vec<String> = model
        .networks
        .iter()
        .flat_map(|n| &n.cidrs)
        .filter(|c| c.addr().is_ipv4())
        .map(|c| c.trunc().to_string())
        .collect();
    if vpc.is_empty() {
        vpc = model
            .subnets
            .iter()
            .filter(|s| s.cidr.addr().is_ipv4())
            .map(|s| s.cidr.trunc().to_string())
            .collect();
    }
    for c in &vpc {
        lab.sh(&igw, &["ip", "route", "add", c, "via", ROUTER_TO_IGW.0]);
        lab.sh(&nat, &["ip", "route", "add", c, "via", ROUTER_TO_NAT.0]);
    }
    lab.sh(
        &nat,
        &["ip", "route", "add", "default", "via", NAT_TO_IGW.1],
    );
    // A NAT gateway carries connections opened from inside only.
    lab.nft(
        &nat,
        "table ip natgw {
  chain c_post { type nat hook postrouting priority srcnat; policy accept;
    oifname \"out\" masquerade
  }
  chain c_fwd { type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname \"vpc\" oifname \"out\" tcp flags & (syn | ack) == syn ct state new accept
    iifname \"vpc\" oifname \"out\" meta l4proto { udp, icmp } ct state new accept
  }
}
",
    );
    // The internet gateway: one-to-one public addresses for the nodes.
    let mut dnat = String::new();
    let mut snat = String::new();
    let mut mapped = Vec::new();
    for (_, n) in &node_lbs {
        if let Some(public) = n.public_address.filter(IpAddr::is_ipv4) {
            dnat.push_str(&format!(
                "    iifname \"inet\" ip daddr {public} dnat to {}\n",
                n.address
            ));
            snat.push_str(&format!(
                "    oifname \"inet\" ip saddr {} snat to {public}\n",
                n.address
            ));
            mapped.push(n.address.to_string());
        }
    }
    let outbound = if mapped.is_empty() {
        String::new()
    } else {
        format!(
            "    iifname \"vpc\" oifname \"inet\" ip saddr {{ {} }} accept\n",
            mapped.join(", ")
        )
    };
    lab.nft(
        &igw,
        &format!(
            "table ip igw {{
  chain c_pre {{ type nat hook prerouting priority dstnat; policy accept;
{dnat}  }}
  chain c_post {{ type nat hook postrouting priority srcnat; policy accept;
{snat}  }}
  chain c_fwd {{ type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname \"inet\" ct status dnat accept
    iifname \"nat\" oifname \"inet\" accept
{outbound}  }}
}}
"
        ),
    );

    // Route tables as policy routing in the router.
    if !model.route_tables.is_empty() {
        for (i, table) in model.route_tables.iter().enumerate() {
            let id = (100 + i).to_string();
            let mut has_default = false;
            for r in table
                .routes
                .iter()
                .filter(|r| r.destination.addr().is_ipv4())
            {
                let dst = r.destination.trunc().to_string();
                has_default |= r.destination.prefix_len() == 0;
                let mut args: Vec<&str> = vec!["ip", "route", "add"];
                if r.state == RouteState::Blackhole {
                    args.extend(["blackhole", &dst]);
                } else {
                    match r.via.kind {
                        RouteTargetKind::InternetGateway => {
                            args.extend([dst.as_str(), "via", ROUTER_TO_IGW.1])
                        }
                        RouteTargetKind::NatGateway => {
                            args.extend([dst.as_str(), "via", ROUTER_TO_NAT.1])
                        }
                        // The network itself, and networks joined to it, are the router's own
                        // bridges.
                        _ => args.extend(["throw", &dst]),
                    }
                }
                args.extend(["table", &id]);
                lab.sh(&router, &args);
            }
            if !has_default {
                lab.sh(
                    &router,
                    &["ip", "route", "add", "blackhole", "default", "table", &id],
                );
            }
        }
        let mains: Vec<(Option<&str>, usize)> = model
            .route_tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.main)
            .map(|(i, t)| (t.network.as_deref(), i))
            .collect();
        for (k, subnet) in bridges.iter().enumerate() {
            let s = model
                .subnets
                .iter()
                .find(|s| &s.id == subnet)
                .expect("subnet");
            let explicit = model
                .route_tables
                .iter()
                .position(|t| t.subnets.contains(subnet));
            let main = match s.network.as_deref() {
                Some(n) => mains.iter().find(|(m, _)| *m == Some(n)).map(|(_, i)| *i),
                None if mains.len() == 1 => Some(mains[0].1),
                None => None,
            };
            if let Some(i) = explicit.or(main) {
                lab.sh(
                    &router,
                    &[
                        "ip",
                        "rule",
                        "add",
                        "from",
                        &s.cidr.trunc().to_string(),
                        "lookup",
                        &(100 + i).to_string(),
                        "pref",
                        &(1000 + k).to_string(),
                    ],
                );
            }
        }
    }

    // An EIP (Huawei) is the node's internet side whatever its subnet's route table says: what
    // the node sends outside the network leaves by the gateway. (AWS nodes follow the table.)
    for (j, ((_, addr), (li, n))) in node_ns.iter().zip(&node_lbs).enumerate() {
        let lb = &model.load_balancers[*li];
        if n.public_address.is_none() || lb.provider.profile().internet_via_route_table {
            continue;
        }
        let table = (400 + j).to_string();
        for c in &vpc {
            lab.sh(
                &router,
                &["ip", "route", "add", "throw", c, "table", &table],
            );
        }
        lab.sh(
            &router,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                ROUTER_TO_IGW.1,
                "table",
                &table,
            ],
        );
        lab.sh(
            &router,
            &[
                "ip",
                "rule",
                "add",
                "from",
                &addr.to_string(),
                "lookup",
                &table,
                "pref",
                &(600 + j).to_string(),
            ],
        );
    }
    // A listener's access control, where the node receives the client's connection.
    for ((ns, addr), (li, _)) in node_ns.iter().zip(&node_lbs) {
        let mut rules = String::new();
        for l in &model.load_balancers[*li].listeners {
            rules.push_str(&access_rule(&model, l, Some(*addr)));
        }
        if !rules.is_empty() {
            lab.nft(
                ns,
                &format!(
                    "table ip access {{\n  chain c_pre {{ type filter hook prerouting priority -200; policy accept;\n{rules}  }}\n}}\n"
                ),
            );
        }
    }

    // Load balancer nodes: a proxy (ALB-like) or a forwarder that keeps the client's address.
    let mut marks = String::new();
    for (j, ((ns, addr), (li, _))) in node_ns.iter().zip(&node_lbs).enumerate() {
        let lb = &model.load_balancers[*li];
        let group_of = |name: &str| {
            model
                .backend_groups
                .iter()
                .find(|g| g.name == name)
                .expect("listener's backend group")
        };
        if lb.kind == LbKind::Nlb {
            lab.sysctl(ns, "net.ipv4.ip_forward", "1");
            lab.sysctl(ns, "net.ipv4.conf.all.send_redirects", "0");
            lab.sysctl(ns, "net.ipv4.conf.eth0.send_redirects", "0");
            let mut pre = String::new();
            let mut post = String::new();
            for l in &lb.listeners {
                let Some(g) = l.backend_group.as_deref().map(group_of) else {
                    continue;
                };
                let targets: Vec<(IpAddr, u16)> = g
                    .members
                    .iter()
                    .map(|m| (m.address, m.port.or(g.port).expect("member port")))
                    .collect();
                let proto = match l.protocol.transport() {
                    IpProto::Udp => "udp",
                    _ => "tcp",
                };
                let to = match targets.as_slice() {
                    [] => continue,
                    [(a, p)] => format!("{a}:{p}"),
                    many => {
                        assert!(
                            many.iter().all(|(_, p)| *p == l.port),
                            "the lab's NLB balances several members on the listener's port only"
                        );
                        let map: Vec<String> = many
                            .iter()
                            .enumerate()
                            .map(|(i, (a, _))| format!("{i} : {a}"))
                            .collect();
                        format!("numgen inc mod {} map {{ {} }}", many.len(), map.join(", "))
                    }
                };
                pre.push_str(&format!(
                    "    ip daddr {addr} {proto} dport {} dnat to {to}\n",
                    l.port
                ));
                if !g.preserves_client_ip(lb) {
                    post.push_str(&format!(
                        "    oifname \"eth0\" ct status dnat {proto} dport {{ {} }} snat to {addr}\n",
                        targets
                            .iter()
                            .map(|(_, p)| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            lab.nft(
                ns,
                &format!(
                    "table ip nlb {{
  chain c_pre {{ type nat hook prerouting priority dstnat; policy accept;
{pre}  }}
  chain c_post {{ type nat hook postrouting priority srcnat; policy accept;
{post}  }}
}}
"
                ),
            );
            // The members' answers to a kept client address go back through this node.
            let (subnet, _, _) = prefix_len(&model, *addr);
            let k = bridges
                .iter()
                .position(|b| *b == subnet)
                .expect("node bridge");
            let cidr = model
                .subnets
                .iter()
                .find(|s| s.id == subnet)
                .expect("subnet")
                .cidr
                .trunc();
            let mark = 0x100 + j;
            marks.push_str(&format!(
                "    iifname \"br{k}\" ether saddr {} ip saddr != {cidr} ct state new ct mark set {mark:#x}\n\
                 \x20   ct direction reply ct mark {mark:#x} meta mark set {mark:#x}\n",
                node_mac(j)
            ));
            let table = (300 + j).to_string();
            lab.sh(
                &router,
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &addr.to_string(),
                    "dev",
                    &format!("br{k}"),
                    "table",
                    &table,
                ],
            );
            lab.sh(
                &router,
                &[
                    "ip",
                    "rule",
                    "add",
                    "fwmark",
                    &format!("{mark:#x}"),
                    "lookup",
                    &table,
                    "pref",
                    &(500 + j).to_string(),
                ],
            );
        } else {
            let mut blocks = String::new();
            let mut wait = Vec::new();
            for (n, l) in lb.listeners.iter().enumerate() {
                let Some(g) = l.backend_group.as_deref().map(group_of) else {
                    continue;
                };
                assert!(
                    matches!(l.protocol, AppProto::Http),
                    "the lab's proxy node serves HTTP listeners"
                );
                let servers: String = g
                    .members
                    .iter()
                    .map(|m| {
                        format!(
                            "server {}:{} max_fails=0; ",
                            m.address,
                            m.port.or(g.port).expect("member port")
                        )
                    })
                    .collect();
                blocks.push_str(&format!(
                    "upstream g{n} {{ {servers}}}\n\
                     server {{ listen {addr}:{port}; location / {{ proxy_pass http://g{n}; \
                     proxy_bind {addr}; proxy_connect_timeout 2s; proxy_read_timeout 5s; }} }}\n",
                    port = l.port
                ));
                wait.push(format!("{addr}:{}", l.port));
            }
            let wait: Vec<&str> = wait.iter().map(String::as_str).collect();
            lab.nginx(ns, &blocks, &wait);
        }
    }
    if !marks.is_empty() {
        lab.nft(
            &router,
            &format!(
                "table ip nlb {{\n  chain c_pre {{ type filter hook prerouting priority mangle; policy accept;\n{marks}  }}\n}}\n"
            ),
        );
    }

    // Security groups: stateful, on every host and node.
    let carriers = |group: &str| -> Vec<String> {
        let mut out = Vec::new();
        if model.agent.security_groups.iter().any(|g| g == group) {
            out.push(format!("{agent_addr}/32"));
        }
        for m in &members {
            if m.security_groups.iter().any(|g| g == group) {
                out.push(format!("{}/32", m.address));
            }
        }
        for (li, n) in &node_lbs {
            if model.load_balancers[*li]
                .security_groups
                .iter()
                .any(|g| g == group)
            {
                out.push(format!("{}/32", n.address));
            }
        }
        out
    };
    let mut host_groups = vec![(agent.clone(), model.agent.security_groups.clone())];
    host_groups.extend(
        member_ns
            .iter()
            .zip(&members)
            .map(|((ns, _), m)| (ns.clone(), m.security_groups.clone())),
    );
    for (ns, groups) in host_groups {
        if groups.is_empty() {
            continue;
        }
        let [ingress, egress] = sg_chains(&model, &groups, &carriers);
        lab.nft(
            &ns,
            &format!(
                "table ip sg {{
  chain input {{
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif \"lo\" accept
{ingress}  }}
  chain output {{
    type filter hook output priority 0; policy drop;
    ct state established,related accept
    oif \"lo\" accept
{egress}  }}
}}
"
            ),
        );
    }
    // A node's groups judge what reaches it before the NLB rewrites the destination, and what
    // leaves it (proxied or forwarded) after.
    for ((ns, addr), (li, _)) in node_ns.iter().zip(&node_lbs) {
        let groups = &model.load_balancers[*li].security_groups;
        if groups.is_empty() {
            continue;
        }
        let [ingress, egress] = sg_chains(&model, groups, &carriers);
        lab.nft(
            ns,
            &format!(
                "table ip sg {{
  chain ingress {{
{ingress}    drop
  }}
  chain egress {{
{egress}    drop
  }}
  chain c_pre {{
    type filter hook prerouting priority -190; policy accept;
    iif \"eth0\" ip daddr {addr} ct state new jump ingress
  }}
  chain c_post {{
    type filter hook postrouting priority 190; policy accept;
    oif \"eth0\" ct state new jump egress
  }}
}}
"
            ),
        );
    }

    World {
        t: Topology {
            lab,
            agent,
            agent_addr,
            members: member_ns,
        },
        client,
        nodes: node_ns
            .into_iter()
            .zip(&node_lbs)
            .map(|((ns, a), (_, n))| (ns, a, n.public_address))
            .collect(),
        dump: config
            .parent()
            .expect("fixture directory")
            .join("aws")
            .join(name),
        config,
        imported: PathBuf::new(),
    }
}

/// A whole-path scenario: the lab of fixture `name`, a web server on every member (80, and 8081
/// `/health` answering `health`), then `setup`.
fn scenario(test: &str, name: &str, setup: impl FnOnce(&mut World)) -> World {
    let mut w = world(test, name);
    if w.dump.exists() {
        w.imported = import_dump(&w);
    }
    let health = vec![HEALTHY; w.t.members.len()];
    web_servers(&mut w.t, &health);
    setup(&mut w);
    w
}

/// The three forms of a scenario's configuration `probe check` reads: the native YAML, the AWS
/// dump (`aws/<name>/`), and the YAML `probe import aws` makes of the dump.
fn sources(w: &World) -> Vec<(&'static str, PathBuf)> {
    if !w.dump.exists() {
        // A scenario of another provider than AWS: its YAML alone.
        return vec![("--config", w.config.clone())];
    }
    vec![
        ("--aws", w.dump.clone()),
        ("--config", w.config.clone()),
        ("--config", w.imported.clone()),
    ]
}

/// Imports the scenario's AWS dump with the real binary, as the agent would.
fn import_dump(w: &World) -> PathBuf {
    let run = w.t.lab.probe(
        &w.t.agent,
        &[
            "import",
            "aws",
            w.dump.to_str().expect("utf-8"),
            "--source-addr",
            &w.t.agent_addr.to_string(),
        ],
    );
    assert_eq!(run.code, Some(0), "import failed: {}", run.stderr);
    let path = w.t.lab.dir.join("imported.yaml");
    std::fs::write(&path, &run.stdout).expect("write the imported YAML");
    path
}

/// Runs `probe check` in `ns` with `extra` flags from each form of the configuration at once;
/// they must agree on every finding and the exit code. Returns (exit code, report) of the dump.
fn run_check(w: &World, ns: &str, extra: &[&str]) -> (i32, Value) {
    let started = Instant::now();
    let children: Vec<_> = sources(w)
        .iter()
        .map(|(flag, path)| {
            let mut args = vec![
                "check",
                flag,
                path.to_str().expect("utf-8 path"),
                "--output",
                "json",
                "--no-progress",
            ];
            args.extend_from_slice(extra);
            (
                format!("{flag} {}", path.display()),
                w.t.lab.spawn_probe(ns, &args),
            )
        })
        .collect();
    let mut runs = Vec::new();
    for (source, child) in children {
        let out = child.wait_with_output().expect("wait for probe");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "probe check {source} {extra:?} printed no JSON ({e}), exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        runs.push((source, out.status.code().unwrap_or(-1), report));
    }
    eprintln!(
        "probe check {} in {ns}: exit {} after {:.1?}",
        extra.join(" "),
        runs[0].1,
        started.elapsed()
    );
    for f in runs[0].2["findings"].as_array().into_iter().flatten() {
        let (code, also, blocking) = verdict(f);
        eprintln!(
            "  {} {} {} {} observed={} {code} {also:?} {blocking}: {}",
            f["role"], f["address"], f["port"], f["protocol"], f["observed"]["state"], f["summary"]
        );
    }
    let (dump, code, report) = runs.remove(0);
    for (source, other_code, other) in &runs {
        assert_eq!(lines(&report), lines(other), "{dump} and {source} disagree");
        assert_eq!(code, *other_code, "{dump} and {source} exit differently");
    }
    (code, report)
}

/// `probe check` from the agent, inside the VPC: client findings judged statically.
fn from_agent(w: &mut World) -> (i32, Value) {
    let addr = w.t.agent_addr.to_string();
    let ns = w.t.agent.clone();
    let (code, report) = run_check(w, &ns, &["--source-addr", &addr]);
    report_renders(w, &ns, "agent", &["--source-addr", &addr], code, &report);
    (code, report)
}

/// The HTML report of the first form of the configuration, from `ns`, renders in Chromium and
/// says what the JSON says ([`render_report`]).
fn report_renders(w: &mut World, ns: &str, side: &str, extra: &[&str], code: i32, report: &Value) {
    let (flag, path) = sources(w).remove(0);
    let path = path.to_str().expect("utf-8").to_string();
    let mut args = vec![flag, path.as_str()];
    args.extend_from_slice(extra);
    let test = std::thread::current()
        .name()
        .unwrap_or("whole_path")
        .rsplit("::")
        .next()
        .unwrap_or("whole_path")
        .to_string();
    render_report(
        &mut w.t.lab,
        ns,
        &format!("{test}-{side}"),
        &args,
        code,
        report,
    );
}

/// `probe check --from clients` from the internet client's namespace.
fn from_clients(w: &mut World) -> (i32, Value) {
    let ns = w.client.clone();
    let (code, report) = run_check(w, &ns, &["--from", "clients"]);
    report_renders(w, &ns, "clients", &["--from", "clients"], code, &report);
    (code, report)
}

/// Every finding of `role` (on `port`, when given); panics when there is none.
fn with_role<'a>(report: &'a Value, role: &str, port: Option<u16>) -> Vec<&'a Value> {
    let found: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["role"] == role && port.is_none_or(|p| f["port"] == u64::from(p)))
        .collect();
    assert!(
        !found.is_empty(),
        "no {role} finding (port {port:?}) in {report:#}"
    );
    found
}

/// Whether a TCP connection from `ns` to `addr` completes within 1 s: what the lab itself does,
/// whatever probe says.
fn connects(ns: &str, addr: SocketAddr) -> bool {
    in_netns(ns, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    })
}

/// The node's public address and listener port, as the internet client reaches it.
fn public_listener(w: &World, port: u16) -> SocketAddr {
    let public = w.nodes[0].2.expect("the node has a public address");
    SocketAddr::new(public, port)
}

fn blocking(kind: &str, id: &str, direction: &str, rule: &str) -> String {
    format!("{kind} {id} {direction} {rule}")
}

/// Asserts that every client finding on `port` of `report` has `code` and `blocking`, and, when
/// `observed` is given, that state (from the client namespace); with `None`, that it was not
/// probed (from the agent, judged statically).
fn assert_client(report: &Value, port: u16, code: &str, block: &str, observed: Option<&str>) {
    for f in with_role(report, "client", Some(port)) {
        let (c, _, b) = verdict(f);
        assert_eq!((c.as_str(), b.as_str()), (code, block), "{f:#}");
        match observed {
            Some(state) => assert_eq!(f["observed"]["state"], state, "{f:#}"),
            None => assert_eq!(f["observed"], Value::Null, "{f:#}"),
        }
    }
}

const WEB1: &str = "10.0.1.25";
const WEB2: &str = "10.1.1.30";

// h. A healthy whole path.
#[test]
fn whole_path_healthy_from_the_vpc_and_from_the_internet() {
    let mut w = scenario("wp-healthy", "healthy", |_| {});
    let (status, body) = curl_in(
        &w.client,
        &[&format!("http://{}/", public_listener(&w, 80))],
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "ok\n"),
        "the lab: the internet reaches the member through the ALB"
    );
    let (code, report) = from_agent(&mut w);
    for f in report["findings"].as_array().expect("findings") {
        assert_eq!(f["code"], "OK", "{f:#}");
    }
    with_role(&report, "client", Some(80));
    assert_eq!(
        finding(&report, WEB1, "health_check", Some(8081))["observed"]["http"]["status"],
        200
    );
    assert_eq!(finding(&report, WEB1, "traffic", Some(80))["code"], "OK");
    assert_eq!(code, 0, "{report:#}");

    let (code, report) = from_clients(&mut w);
    for f in report["findings"].as_array().expect("findings") {
        assert_eq!(f["code"], "OK", "{f:#}");
    }
    for f in with_role(&report, "client", Some(80)) {
        assert_eq!(f["observed"]["state"], "open", "{f:#}");
    }
    assert_eq!(code, 0, "{report:#}");
}

// a. An internet-facing ALB in a subnet that is not public.
fn lb_subnet_not_public(test: &str, fixture: &str, rule: &str) {
    let mut w = scenario(test, fixture, |_| {});
    assert!(
        !connects(&w.client, public_listener(&w, 80)),
        "the lab: the answers leave by {rule} and never reach the client"
    );
    let block = blocking("route_table", "rtb-pub", "egress", rule);
    let (code, report) = from_agent(&mut w);
    assert_client(&report, 80, "LB_SUBNET_NOT_PUBLIC", &block, None);
    let statics: Vec<_> = with_role(&report, "configuration", None)
        .into_iter()
        .filter(|f| f["code"] == "LB_SUBNET_NOT_PUBLIC")
        .collect();
    assert_eq!(statics.len(), 1, "one configuration finding: {report:#}");
    assert_eq!(statics[0]["address"], Value::Null);
    assert_eq!(statics[0]["severity"], "error");
    // The load balancer's own leg inside the VPC is fine.
    assert_eq!(finding(&report, WEB1, "traffic", Some(80))["code"], "OK");
    assert_eq!(
        finding(&report, WEB1, "health_check", Some(8081))["code"],
        "OK"
    );
    assert_eq!(code, 1);

    let (code, report) = from_clients(&mut w);
    assert_client(
        &report,
        80,
        "LB_SUBNET_NOT_PUBLIC",
        &block,
        Some("filtered"),
    );
    assert_eq!(code, 1);
}

#[test]
fn whole_path_lb_subnet_routed_to_a_nat_gateway_is_not_public() {
    lb_subnet_not_public("wp-lb-nat", "lb-subnet-via-nat", "0.0.0.0/0 via nat-1");
}

#[test]
fn whole_path_lb_subnet_without_a_default_route_is_not_public() {
    lb_subnet_not_public("wp-lb-noroute", "lb-subnet-no-default-route", "*");
}

// b. The load balancer's security group without the listener port.
#[test]
fn whole_path_lb_security_group_without_the_listener_port() {
    let mut w = scenario("wp-lb-sg", "lb-sg-no-listener-rule", |_| {});
    assert!(!connects(&w.client, public_listener(&w, 80)), "the lab");
    let block = blocking("security_group", "sg-lb", "ingress", "*");
    let (code, report) = from_agent(&mut w);
    assert_client(&report, 80, "SG_INGRESS_MISSING", &block, None);
    assert_eq!(code, 1);
    let (code, report) = from_clients(&mut w);
    assert_client(&report, 80, "SG_INGRESS_MISSING", &block, Some("filtered"));
    assert_eq!(code, 1);
}

// c. The public subnets' ACL: the listener port in, then the ephemeral ports out.
#[test]
fn whole_path_lb_acl_without_the_listener_port() {
    let mut w = scenario("wp-lb-acl", "lb-acl-no-listener-port", |_| {});
    assert!(!connects(&w.client, public_listener(&w, 80)), "the lab");
    let block = blocking("network_acl", "acl-pub", "ingress", "*");
    let (code, report) = from_agent(&mut w);
    assert_client(&report, 80, "NACL_DENY", &block, None);
    assert_eq!(code, 1);
    let (code, report) = from_clients(&mut w);
    assert_client(&report, 80, "NACL_DENY", &block, Some("filtered"));
    assert_eq!(code, 1);
}

#[test]
fn whole_path_lb_acl_without_ephemeral_ports_out_to_clients() {
    let mut w = scenario("wp-lb-eph", "lb-acl-no-ephemeral-out", |_| {});
    assert!(!connects(&w.client, public_listener(&w, 80)), "the lab");
    let block = blocking("network_acl", "acl-pub", "egress", "*");
    let (code, report) = from_agent(&mut w);
    assert_client(&report, 80, "NACL_RETURN_BLOCKED", &block, None);
    // Inside the VPC the answers are allowed: the load balancer's own legs pass.
    assert_eq!(finding(&report, WEB1, "traffic", Some(80))["code"], "OK");
    assert_eq!(code, 1);
    let (code, report) = from_clients(&mut w);
    assert_client(&report, 80, "NACL_RETURN_BLOCKED", &block, Some("filtered"));
    assert_eq!(code, 1);
}

// d. An NLB keeps the clients' addresses: the target's group must admit the clients.
#[test]
fn whole_path_nlb_keeps_client_addresses_and_the_target_admits_only_the_vpc() {
    let mut w = scenario("wp-nlb", "nlb-target-sg-vpc-only", |_| {});
    let public = public_listener(&w, 80);
    assert!(
        !connects(&w.client, public),
        "the lab: the target drops the client's address"
    );
    let (code, report) = from_agent(&mut w);
    let traffic = finding(&report, WEB1, "traffic", Some(80));
    // The agent, inside the VPC, is admitted where the clients are not: its probe passes and
    // cannot stand in for the clients (PROBE_PERSPECTIVE_DIFFERS), the verdict is theirs.
    assert_eq!(traffic["observed"]["state"], "open", "{traffic:#}");
    assert_eq!(
        verdict(traffic),
        (
            "SG_INGRESS_MISSING".into(),
            vec!["PROBE_PERSPECTIVE_DIFFERS".into()],
            blocking("security_group", "sg-web", "ingress", "*")
        ),
        "{traffic:#}"
    );
    assert!(
        traffic["summary"]
            .as_str()
            .is_some_and(|s| s.contains("0.0.0.0/0")),
        "the summary names the clients: {traffic:#}"
    );
    let hc = finding(&report, WEB1, "health_check", Some(80));
    assert_eq!(hc["code"], "OK", "{hc:#}");
    assert_eq!(hc["observed"]["state"], "open", "{hc:#}");
    assert_eq!(code, 1);

    let (code, report) = from_clients(&mut w);
    for f in with_role(&report, "client", Some(80)) {
        assert_eq!(f["observed"]["state"], "filtered", "{f:#}");
        // The client's packets reach the target with their own address: its group decides.
        assert_eq!(
            verdict(f),
            (
                "SG_INGRESS_MISSING".into(),
                vec![],
                blocking("security_group", "sg-web", "ingress", "*")
            ),
            "{f:#}"
        );
    }
    assert_eq!(code, 1);

    // The lab's forwarder itself: once the target admits the clients, the answer comes back
    // through the node to the client.
    // The target's security group, opened to the clients in the lab only.
    w.t.lab.sh(
        &w.t.members[0].0,
        &[
            "nft",
            "insert",
            "rule",
            "ip",
            "sg",
            "input",
            "ip",
            "saddr",
            "203.0.113.0/24",
            "tcp",
            "dport",
            "80",
            "accept",
        ],
    );
    assert!(
        connects(&w.client, public),
        "the lab: the NLB forwards the client's connection and its answers come back"
    );
}

// e. Routes: a blackhole, and none at all.
#[test]
fn whole_path_member_behind_a_blackhole_route() {
    let mut w = scenario("wp-blackhole", "route-blackhole", |_| {});
    let block = blocking("route_table", "rtb-pub", "egress", "10.1.0.0/16 via pcx-1");
    let (code, report) = from_agent(&mut w);
    for (role, port) in [("traffic", 80), ("health_check", 8081)] {
        let f = finding(&report, WEB2, role, Some(port));
        assert_eq!(f["observed"]["state"], "filtered", "{f:#}");
        assert_eq!(
            verdict(f),
            ("ROUTE_BLACKHOLE".into(), vec![], block.clone()),
            "{f:#}"
        );
        assert_eq!(finding(&report, WEB1, role, Some(port))["code"], "OK");
    }
    assert_eq!(code, 1);
}

#[test]
fn whole_path_member_without_a_route() {
    let mut w = scenario("wp-noroute", "route-missing", |_| {});
    let block = blocking("route_table", "rtb-pub", "egress", "*");
    let (code, report) = from_agent(&mut w);
    for (role, port) in [("traffic", 80), ("health_check", 8081)] {
        let f = finding(&report, WEB2, role, Some(port));
        assert_eq!(f["observed"]["state"], "filtered", "{f:#}");
        assert_eq!(
            verdict(f),
            ("ROUTE_MISSING".into(), vec![], block.clone()),
            "{f:#}"
        );
        assert_eq!(finding(&report, WEB1, role, Some(port))["code"], "OK");
    }
    assert_eq!(code, 1);
}

// f. The node drops the listener port in a firewall the configuration does not know.
#[test]
fn whole_path_node_host_firewall_is_suspected_from_the_internet() {
    let mut w = scenario("wp-nodefw", "healthy", |w| {
        let ns = w.nodes[0].0.clone();
        w.t.lab.nft(
            &ns,
            "table ip hostfw {\n  chain input {\n    type filter hook input priority -10; policy accept;\n    iif \"eth0\" tcp dport 80 drop\n  }\n}\n",
        );
    });
    assert!(!connects(&w.client, public_listener(&w, 80)), "the lab");
    // Judged from the configuration alone, the client leg is fine.
    let (_, report) = from_agent(&mut w);
    assert_client(&report, 80, "OK", "-", None);
    let (code, report) = from_clients(&mut w);
    for f in with_role(&report, "client", Some(80)) {
        assert_eq!(f["observed"]["state"], "filtered", "{f:#}");
        let addr = f["address"].as_str().unwrap_or("?");
        assert_eq!(
            verdict(f),
            (
                "HOST_FIREWALL_SUSPECTED".into(),
                vec![],
                blocking("host", addr, "ingress", "*")
            ),
            "{f:#}"
        );
    }
    assert_eq!(code, 1);
}

// g. The provider reports a member unhealthy that passes its health check.
#[test]
fn whole_path_reported_health_differs_from_a_passing_check() {
    let mut w = scenario("wp-reported", "reported-health-differs", |_| {});
    let (code, report) = from_agent(&mut w);
    let f = finding(&report, WEB1, "health_check", Some(8081));
    assert_eq!(f["observed"]["http"]["status"], 200, "{f:#}");
    assert_eq!(
        f["reported"],
        serde_json::json!({"state": "unhealthy", "reason": "Target.Timeout"}),
        "{f:#}"
    );
    let (c, also, b) = verdict(f);
    assert!(
        c == "REPORTED_HEALTH_DIFFERS" || also.iter().any(|a| a == "REPORTED_HEALTH_DIFFERS"),
        "{f:#}"
    );
    assert_eq!(b, "-", "nothing blocks: {f:#}");
    assert!(
        f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("Target.Timeout")),
        "{f:#}"
    );
    assert_eq!(code, 1, "a warning: {report:#}");
}

/// The lab alone, without probe's verdicts: the NLB-like node forwards the client's connection
/// with the client's address, and the answers find their way back through it.
#[test]
fn whole_path_lab_nlb_forwards_with_the_client_address() {
    let w = scenario("wp-lab-nlb", "nlb-target-sg-vpc-only", |_| {});
    let public = public_listener(&w, 80);
    assert!(!connects(&w.client, public), "sg-web admits the VPC only");
    let member = &w.t.members[0].0;
    w.t.lab.sh(
        member,
        &[
            "nft", "insert", "rule", "ip", "sg", "input", "ip", "saddr", CLIENT, "tcp", "dport",
            "80", "counter", "accept",
        ],
    );
    let (status, body) = curl_in(&w.client, &[&format!("http://{public}/")]);
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let rules =
        w.t.lab
            .sh(member, &["nft", "list", "chain", "ip", "sg", "input"]);
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules
            .lines()
            .any(|l| l.contains(CLIENT) && !l.contains("packets 0 ")),
        "the member saw the client's own address:\n{rules}"
    );
}

/// The lab alone: a private subnet reaches the internet through the NAT gateway, which lets
/// nothing in; the internet reaches neither private address.
#[test]
fn whole_path_lab_nat_gateway_carries_connections_opened_from_inside() {
    let mut w = scenario("wp-lab-nat", "healthy", |_| {});
    let client = w.client.clone();
    w.t.lab.tcp_listener(&client, &format!("{CLIENT}:443"));
    let outside: SocketAddr = format!("{CLIENT}:443").parse().expect("address");
    assert!(
        connects(&w.t.members[0].0, outside),
        "web-1 goes out through nat-1"
    );
    for private in [WEB1, "10.0.0.20"] {
        let addr: SocketAddr = format!("{private}:80").parse().expect("address");
        assert!(!connects(&w.client, addr), "the internet reaches {private}");
    }
}

// Huawei Cloud (issue 16): the internet side is an EIP, whatever the subnet's route table says;
// the listener's access control and a firewall on the load balancer's subnet are on the path.
const HW_WEB: &str = "192.168.1.11";

/// Every finding of the report is ok or info (the targets' missing internet egress).
fn all_ok(report: &Value) {
    for f in report["findings"].as_array().expect("findings") {
        assert!(
            f["code"] == "OK" || f["code"] == "TARGET_NO_INTERNET_EGRESS",
            "{f:#}"
        );
    }
}

#[test]
fn whole_path_huawei_eip_carries_clients_without_a_default_route() {
    let mut w = scenario("wp-hw-healthy", "huawei-healthy", |_| {});
    let (status, body) = curl_in(
        &w.client,
        &[&format!("http://{}/", public_listener(&w, 80))],
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "ok\n"),
        "the lab: the internet reaches the member through the EIP, with no default route"
    );
    let (code, report) = from_agent(&mut w);
    all_ok(&report);
    assert_eq!(
        finding(&report, HW_WEB, "health_check", Some(8081))["observed"]["http"]["status"],
        200
    );
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = from_clients(&mut w);
    all_ok(&report);
    for f in with_role(&report, "client", Some(80)) {
        assert_eq!(f["observed"]["state"], "open", "{f:#}");
    }
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn whole_path_huawei_deny_all_firewall_on_the_load_balancer_subnet() {
    let mut w = scenario("wp-hw-fwlb", "huawei-lb-firewall-deny-all", |_| {});
    assert!(
        !connects(&w.client, public_listener(&w, 80)),
        "the lab: fw-elb drops the clients' connections"
    );
    // From the agent, in the load balancer's subnet: its health checks leave through fw-elb.
    let (code, report) = from_agent(&mut w);
    let hc = finding(&report, HW_WEB, "health_check", Some(8081));
    assert_eq!(
        verdict(hc),
        (
            "NACL_DENY".into(),
            vec![],
            blocking("network_acl", "fw-elb", "egress", "*")
        )
    );
    assert_eq!(hc["observed"]["state"], "filtered", "{hc:#}");
    assert_client(
        &report,
        80,
        "NACL_DENY",
        &blocking("network_acl", "fw-elb", "ingress", "*"),
        None,
    );
    assert_eq!(code, 1);
    // From the internet: the client leg, probed, stops at the same firewall.
    let (code, report) = from_clients(&mut w);
    assert_client(
        &report,
        80,
        "NACL_DENY",
        &blocking("network_acl", "fw-elb", "ingress", "*"),
        Some("filtered"),
    );
    let fix = with_role(&report, "client", Some(80))[0]["fix"]
        .as_str()
        .expect("fix")
        .to_string();
    assert!(
        fix.contains("hcloud VPC AddFirewallRules/v3") && fix.contains("--firewall_id=fw-elb"),
        "{fix}"
    );
    assert_eq!(code, 1);
}

#[test]
fn whole_path_huawei_listener_whitelist_without_the_clients() {
    let mut w = scenario("wp-hw-acl", "huawei-access-control", |_| {});
    assert!(
        !connects(&w.client, public_listener(&w, 80)),
        "the lab: the whitelist drops the internet client"
    );
    // The whitelist admits some clients (198.51.100.128/25): the client leg is not blocked for
    // every client, so from the VPC it is OK. The client the lab puts on the internet
    // (203.0.113.10) is not on it: probing from there, it is refused, and the finding says that
    // this vantage point, not the load balancer's clients, is what the whitelist stops.
    let (code, report) = from_agent(&mut w);
    all_ok(&report);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = from_clients(&mut w);
    for f in with_role(&report, "client", Some(80)) {
        assert_eq!(f["observed"]["state"], "filtered", "{f:#}");
        assert_eq!(f["expected"]["decision"], "allow", "{f:#}");
        let (c, _, b) = verdict(f);
        assert_eq!(
            (c.as_str(), b.as_str()),
            (
                "PROBE_PERSPECTIVE_DIFFERS",
                blocking("access_control", "ipg-clients", "ingress", "*").as_str()
            ),
            "{f:#}"
        );
        assert!(
            f["fix"]
                .as_str()
                .is_some_and(|s| s.contains("hcloud ELB UpdateIpList")
                    && s.contains("--ipgroup.ip_list.1.ip=203.0.113.10/32")),
            "{f:#}"
        );
    }
    assert_eq!(code, 1);
}
