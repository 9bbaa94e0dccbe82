#!/usr/bin/env python3
"""Generates tests/fixtures/huawei/sdk/ from Huawei Cloud's own SDK response models.

Every API response the Huawei importer reads is built from the SDK's response class
(`openapi_types` gives each attribute's type, `attribute_map` its JSON key), recursively: every
key the SDK documents is present, with a value of its documented type ("string", 1, false, a
timestamp, one element per list, one entry per map). The scenario below then fills in the keys
the importer reads; a scenario key the SDK model does not have is an error, so the fixtures
cannot drift from the SDK's names.

    python3 scripts/huawei-fixtures.py            # (re)write tests/fixtures/huawei/sdk/
    python3 scripts/huawei-fixtures.py --check    # exit 1 if the committed files differ
    python3 scripts/huawei-fixtures.py --requirements   # the pinned packages, for pip

Needs the SDK packages at the versions pinned in SDK_VERSIONS (scripts/test.sh installs them in
a virtual environment under target/). The scenario: a dedicated load balancer with an EIP (HTTP,
HTTPS, TERMINATED_HTTPS, UDP, QUIC and TLS listeners; HTTP, GRPC, UDP_CONNECT, HTTPS and TLS
monitors) and a shared one whose EIP is bound to its VIP port (TCP listener with transparent
client IP and two IP address groups, HTTP listener with a blacklist; TCP and GRPCS monitors);
members with per-listener status; v3 and v1 security groups; a v3 firewall with an address group;
two route tables (NAT gateways, peerings, and every route type); v1 and v3 VPCs and EIPs; ECS
servers.
"""

import argparse
import difflib
import importlib
import json
import re
import sys
from pathlib import Path

SDK_VERSIONS = {
    "huaweicloudsdkcore": "3.1.219",
    "huaweicloudsdkelb": "3.1.219",
    "huaweicloudsdkvpc": "3.1.219",
    "huaweicloudsdkecs": "3.1.219",
    "huaweicloudsdkeip": "3.1.219",
    "huaweicloudsdknat": "3.1.219",
}

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "huawei" / "sdk"

TIME = "2024-03-11T08:00:00Z"


def model(module, name):
    return getattr(importlib.import_module(module + ".model"), name)


def example(module, type_str, depth=0):
    """A value of SDK type `type_str`, every key of every model present."""
    t = type_str.strip()
    m = re.fullmatch(r"list\[(.*)\]", t)
    if m:
        return [example(module, m.group(1), depth + 1)]
    m = re.fullmatch(r"dict\((\w+), (.*)\)", t)
    if m:
        return {"string": example(module, m.group(2), depth + 1)}
    if t == "str":
        return "string"
    if t in ("int", "long"):
        return 1
    if t == "float":
        return 1.0
    if t == "bool":
        return False
    if t in ("datetime", "date"):
        return TIME
    if t == "object":
        return {}
    if depth > 12:
        raise SystemExit(f"{module}: {t} nests too deep")
    cls = model(module, t)
    return {
        cls.attribute_map[attr]: example(module, typ, depth + 1)
        for attr, typ in cls.openapi_types.items()
    }


def merge(template, overlay, path):
    """`overlay` over `template`: maps key by key (a key the template lacks is an error), lists
    element by element over the template's one element, anything else replaced."""
    if isinstance(overlay, dict) and isinstance(template, dict):
        if list(template) == ["string"]:
            # A map (`dict(str, X)`): every entry over the template's one entry.
            return {k: merge(template["string"], v, f"{path}.{k}") for k, v in overlay.items()}
        if not template:
            return overlay
        unknown = [k for k in overlay if k not in template]
        if unknown:
            raise SystemExit(f"{path}: {unknown} are not keys of the SDK model ({list(template)})")
        return {k: merge(v, overlay[k], f"{path}.{k}") if k in overlay else v for k, v in template.items()}
    if isinstance(overlay, list) and isinstance(template, list):
        element = template[0] if template else None
        return [
            merge(element, o, f"{path}[{i}]") if element is not None else o
            for i, o in enumerate(overlay)
        ]
    return overlay


def response(module, cls_name, overlay):
    """The full-shaped response `cls_name` of `module` with the scenario's values."""
    return merge(example(module, cls_name), overlay, cls_name)


ELB = "huaweicloudsdkelb.v3"
VPC2 = "huaweicloudsdkvpc.v2"
VPC3 = "huaweicloudsdkvpc.v3"
ECS = "huaweicloudsdkecs.v2"
EIP2 = "huaweicloudsdkeip.v2"
EIP3 = "huaweicloudsdkeip.v3"
NAT = "huaweicloudsdknat.v2"

VPC_ID = "vpc-0001"
SUB_ELB, SUB_APP, SUB_SHARED = "sub-elb", "sub-app", "sub-shared"


def refs(*ids):
    return [{"id": i} for i in ids]


def loadbalancers():
    common = {
        "provisioning_status": "ACTIVE",
        "operating_status": "ONLINE",
        "admin_state_up": True,
        "vpc_id": VPC_ID,
        "ipv6_vip_address": None,
        "ipv6_vip_virsubnet_id": None,
        "ipv6_vip_port_id": None,
    }
    ded = dict(
        common,
        id="elb-ded",
        name="elb-dedicated",
        guaranteed=True,
        vip_address="192.168.0.10",
        vip_subnet_cidr_id="nsub-elb",
        vip_port_id="port-vip-ded",
        elb_virsubnet_ids=[SUB_ELB],
        ip_target_enable=True,
        eips=[{"eip_id": "eip-0002", "eip_address": "121.36.0.10", "ip_version": 4}],
        publicips=[{"publicip_id": "eip-0002", "publicip_address": "121.36.0.10", "ip_version": 4}],
        listeners=refs("lsn-http", "lsn-https", "lsn-terminated", "lsn-udp", "lsn-quic", "lsn-tls"),
        pools=refs("pool-web", "pool-grpc", "pool-dns", "pool-api", "pool-tls"),
    )
    shared = dict(
        common,
        id="elb-shr",
        name="elb-shared",
        guaranteed=False,
        vip_address="192.168.2.100",
        vip_subnet_cidr_id="nsub-shared",
        vip_port_id="port-vip-shared",
        elb_virsubnet_ids=[],
        ip_target_enable=False,
        eips=[],
        publicips=[],
        global_eips=[],
        listeners=refs("lsn-shr-tcp", "lsn-shr-http"),
        pools=refs("pool-app", "pool-app-web"),
    )
    return response(ELB, "ListLoadBalancersResponse", {"loadbalancers": [ded, shared]})


def listener(id, lb, protocol, port, pool, ipgroup=None, transparent=False):
    return {
        "id": id,
        "name": id,
        "protocol": protocol,
        "protocol_port": port,
        "default_pool_id": pool,
        "loadbalancers": refs(lb),
        "admin_state_up": True,
        "ipgroup": ipgroup or {"ipgroup_id": "ipg-office", "enable_ipgroup": False, "type": "white"},
        "transparent_client_ip_enable": transparent,
        "port_ranges": [],
    }


def listeners():
    return response(
        ELB,
        "ListListenersResponse",
        {
            "listeners": [
                listener("lsn-http", "elb-ded", "HTTP", 80, "pool-web"),
                listener("lsn-https", "elb-ded", "HTTPS", 443, "pool-grpc", transparent=True),
                listener("lsn-terminated", "elb-ded", "TERMINATED_HTTPS", 8443, "pool-web"),
                listener("lsn-udp", "elb-ded", "UDP", 53, "pool-dns", transparent=True),
                listener("lsn-quic", "elb-ded", "QUIC", 4433, "pool-api"),
                listener("lsn-tls", "elb-ded", "TLS", 9443, "pool-tls"),
                listener(
                    "lsn-shr-tcp",
                    "elb-shr",
                    "TCP",
                    8080,
                    "pool-app",
                    {"ipgroup_id": "ipg-office, ipg-vpn", "enable_ipgroup": True, "type": "white"},
                    transparent=True,
                ),
                listener(
                    "lsn-shr-http",
                    "elb-shr",
                    "HTTP",
                    8081,
                    "pool-app-web",
                    {"ipgroup_id": "ipg-blocked", "enable_ipgroup": True, "type": "black"},
                    transparent=True,
                ),
            ]
        },
    )


POOLS = [
    # id, protocol, monitor, members, load balancer, listener
    ("pool-web", "HTTP", "hm-web", ["mem-web-1", "mem-web-2"], "elb-ded", "lsn-http"),
    ("pool-grpc", "GRPC", "hm-grpc", ["mem-grpc-1"], "elb-ded", "lsn-https"),
    ("pool-dns", "UDP", "hm-dns", ["mem-dns-1"], "elb-ded", "lsn-udp"),
    ("pool-api", "HTTPS", "hm-api", ["mem-api-1"], "elb-ded", "lsn-quic"),
    ("pool-tls", "TLS", "hm-tls", ["mem-tls-1"], "elb-ded", "lsn-tls"),
    ("pool-app", "TCP", "hm-app", ["mem-app-1", "mem-app-2"], "elb-shr", "lsn-shr-tcp"),
    ("pool-app-web", "HTTP", "hm-app-web", ["mem-app-web-1"], "elb-shr", "lsn-shr-http"),
]


def pools():
    return response(
        ELB,
        "ListPoolsResponse",
        {
            "pools": [
                {
                    "id": id,
                    "name": id.removeprefix("pool-"),
                    "protocol": proto,
                    "healthmonitor_id": hm,
                    "members": refs(*members),
                    "loadbalancers": refs(lb),
                    "listeners": refs(lsn),
                    "any_port_enable": False,
                }
                for id, proto, hm, members, lb, lsn in POOLS
            ]
        },
    )


def monitor(id, kind, pool, port=None, path="/", host="", codes="200", method="GET"):
    return {
        "id": id,
        "name": id,
        "type": kind,
        "admin_state_up": True,
        "delay": 5,
        "timeout": 3,
        "max_retries": 3,
        "max_retries_down": 2,
        "monitor_port": port,
        "url_path": path,
        "domain_name": host,
        "expected_codes": codes,
        "http_method": method,
        "pools": refs(pool),
    }


def healthmonitors():
    grpc_path = "/grpc.health.v1.Health/Check"
    return response(
        ELB,
        "ListHealthMonitorsResponse",
        {
            "healthmonitors": [
                monitor("hm-web", "HTTP", "pool-web", 8081, "/health", "www.example.com", "200,202"),
                monitor("hm-grpc", "GRPC", "pool-grpc", None, grpc_path, "", "0"),
                monitor("hm-dns", "UDP_CONNECT", "pool-dns"),
                monitor("hm-api", "HTTPS", "pool-api", None, "/ready", "", "200-204", "HEAD"),
                monitor("hm-tls", "TLS", "pool-tls"),
                monitor("hm-app", "TCP", "pool-app"),
                monitor("hm-app-web", "GRPCS", "pool-app-web", None, grpc_path, "", "0"),
            ]
        },
    )


def reason(code):
    return {"reason_code": code, "expected_response": "", "healthcheck_response": ""}


def status(listener, state, code=None):
    return {
        "listener_id": listener,
        "operating_status": state,
        "reason": reason(code) if code else None,
        "created_at": TIME,
        "updated_at": TIME,
    }


def member(id, addr, port, subnet, instance, state="ONLINE", code=None, statuses=(), pool=None):
    m = {
        "id": id,
        "name": id.removeprefix("mem-"),
        "address": addr,
        "protocol_port": port,
        "subnet_cidr_id": subnet,
        "instance_id": instance,
        "member_type": "instance",
        "ip_version": "v4",
        "admin_state_up": True,
        "weight": 1,
        "operating_status": state,
        "reason": reason(code) if code else None,
        "status": list(statuses),
    }
    if pool:
        m["pool_id"] = pool
    return m


def all_members():
    return response(
        ELB,
        "ListAllMembersResponse",
        {
            "members": [
                member(
                    "mem-web-1", "192.168.1.11", 80, "nsub-app", "ecs-web-1",
                    statuses=[
                        status("lsn-http", "OFFLINE", "CONNECT_TIMEOUT"),
                        status("lsn-terminated", "ONLINE"),
                    ],
                    pool="pool-web",
                ),
                member("mem-web-2", "192.168.1.12", 80, "nsub-app", "ecs-web-2", pool="pool-web"),
                member("mem-grpc-1", "192.168.1.13", 50051, "nsub-app", "", pool="pool-grpc"),
                member(
                    "mem-dns-1", "192.168.1.21", 53, "nsub-app", "ecs-dns-1",
                    "OFFLINE", "CONNECT_FAILED", pool="pool-dns",
                ),
                member("mem-api-1", "192.168.1.14", 443, "nsub-app", "", pool="pool-api"),
                member("mem-tls-1", "192.168.1.15", 9443, "nsub-app", "", pool="pool-tls"),
                member(
                    "mem-app-web-1", "192.168.2.21", 8081, "nsub-shared", "",
                    "NO_MONITOR", statuses=[status("lsn-shr-http", "ONLINE")],
                    pool="pool-app-web",
                ),
            ]
        },
    )


def app_members():
    body = response(
        ELB,
        "ListMembersResponse",
        {
            "members": [
                member("mem-app-1", "192.168.1.31", 8080, "nsub-app", "ecs-app-1"),
                member(
                    "mem-app-2", "192.168.1.32", 8080, "nsub-app", "ecs-app-2", "OFFLINE",
                    "CONNECT_REFUSED", [status("lsn-shr-tcp", "ONLINE")],
                ),
            ]
        },
    )
    # ListMembers is called per pool and does not say which: the documented wrapper.
    return {"pool_id": "pool-app", **body}


def ipgroups():
    def group(id, ips):
        return {"id": id, "name": id.removeprefix("ipg-"), "ip_list": [{"ip": ip, "description": ""} for ip in ips]}

    return response(
        ELB,
        "ListIpGroupsResponse",
        {
            "ipgroups": [
                group("ipg-office", ["203.0.113.0/24", "198.51.100.7"]),
                group("ipg-vpn", ["192.0.2.10-192.0.2.20"]),
                group("ipg-blocked", ["198.51.100.66"]),
            ]
        },
    )


def subnets():
    def subnet(id, cidr, neutron):
        return {
            "id": id,
            "name": id,
            "cidr": cidr,
            "vpc_id": VPC_ID,
            "availability_zone": "cn-north-4a",
            "neutron_network_id": id,
            "neutron_subnet_id": neutron,
            "ipv6_enable": False,
            "cidr_v6": None,
            "neutron_subnet_id_v6": None,
            "status": "ACTIVE",
        }

    return response(
        VPC2,
        "ListSubnetsResponse",
        {
            "subnets": [
                subnet(SUB_ELB, "192.168.0.0/24", "nsub-elb"),
                subnet(SUB_APP, "192.168.1.0/24", "nsub-app"),
                subnet(SUB_SHARED, "192.168.2.0/24", "nsub-shared"),
            ]
        },
    )


def vpcs_v1():
    return response(VPC2, "ListVpcsResponse", {"vpcs": [{"id": VPC_ID, "name": "vpc", "cidr": "192.168.0.0/16", "status": "OK"}]})


def vpcs_v3():
    return response(
        VPC3,
        "ListVpcsResponse",
        {"vpcs": [{"id": VPC_ID, "name": "vpc", "cidr": "192.168.0.0/16", "extend_cidrs": ["10.20.0.0/16"], "status": "ACTIVE"}]},
    )


TABLES = {
    "rt-main": (True, [SUB_ELB, SUB_SHARED], [
        ("nat", "0.0.0.0/0", "nat-0001"),
        ("peering", "172.16.0.0/16", "peer-0001"),
    ]),
    "rt-app": (False, [SUB_APP], [
        ("nat", "0.0.0.0/0", "nat-0002"),
        ("peering", "172.17.0.0/16", "peer-0002"),
        ("er", "10.100.0.0/16", "er-0001"),
        ("cc", "10.101.0.0/16", "cc-0001"),
        ("vpn", "10.102.0.0/16", "vpn-0001"),
        ("dc", "10.103.0.0/16", "dc-0001"),
        ("egw", "10.104.0.0/16", "vpcep-0001"),
        ("ecs", "10.105.0.0/16", "ecs-app-1"),
        ("eni", "10.106.0.0/16", "eni-0001"),
        ("subeni", "10.107.0.0/16", "subeni-0001"),
        ("vip", "10.108.0.0/16", "192.168.1.250"),
        ("local", "100.64.0.0/10", ""),
    ]),
}


def routetables():
    return response(
        VPC2,
        "ListRouteTablesResponse",
        {
            "routetables": [
                {"id": id, "name": id, "default": main, "subnets": refs(*subs), "vpc_id": VPC_ID}
                for id, (main, subs, _) in TABLES.items()
            ]
        },
    )


def routetable(id):
    main, subs, routes = TABLES[id]
    return response(
        VPC2,
        "ShowRouteTableResponse",
        {
            "routetable": {
                "id": id,
                "name": id,
                "default": main,
                "subnets": refs(*subs),
                "vpc_id": VPC_ID,
                "routes": [
                    {"type": t, "destination": d, "nexthop": n, "description": ""} for t, d, n in routes
                ],
            }
        },
    )


def peerings():
    def peering(id, state, peer):
        return {
            "id": id,
            "name": id,
            "status": state,
            "request_vpc_info": {"vpc_id": VPC_ID, "tenant_id": "project"},
            "accept_vpc_info": {"vpc_id": peer, "tenant_id": "project"},
        }

    return response(
        VPC2,
        "ListVpcPeeringsResponse",
        {"peerings": [peering("peer-0001", "ACTIVE", "vpc-0002"), peering("peer-0002", "REJECTED", "vpc-0003")], "peerings_links": []},
    )


def nat_gateways():
    def nat(id, state):
        return {"id": id, "name": id, "status": state, "admin_state_up": True, "router_id": VPC_ID, "internal_network_id": SUB_ELB}

    return response(NAT, "ListNatGatewaysResponse", {"nat_gateways": [nat("nat-0001", "ACTIVE"), nat("nat-0002", "INACTIVE")]})


def publicips_v1():
    return response(
        EIP2,
        "ListPublicipsResponse",
        {
            "publicips": [
                {
                    "id": "eip-0001",
                    "status": "ELB",
                    "type": "5_bgp",
                    "port_id": "port-vip-shared",
                    "private_ip_address": "192.168.2.100",
                    "public_ip_address": "121.36.0.20",
                    "public_ipv6_address": None,
                    "ip_version": 4,
                }
            ]
        },
    )


def publicips_v3():
    def eip(id, addr, port, kind, instance, private):
        return {
            "id": id,
            "ip_version": 4,
            "public_ip_address": addr,
            "public_ipv6_address": None,
            "status": "ACTIVE" if kind == "PORT" else "ELB",
            "vnic": {"port_id": port, "private_ip_address": private, "vpc_id": VPC_ID},
            "associate_instance_type": kind,
            "associate_instance_id": instance,
        }

    return response(
        EIP3,
        "ListPublicipsResponse",
        {
            "publicips": [
                eip("eip-0002", "121.36.0.10", "port-vip-ded", "ELB", "elb-ded", "192.168.0.10"),
                eip("eip-0003", "121.36.0.30", "port-web-1", "PORT", "port-web-1", "192.168.1.11"),
            ],
            "total_count": 2,
        },
    )


def rule_v3(id, sg, direction, proto, ports, remote, action="allow", priority=1, ethertype="IPv4"):
    return {
        "id": id,
        "security_group_id": sg,
        "direction": direction,
        "ethertype": ethertype,
        "protocol": proto,
        "multiport": ports,
        "remote_ip_prefix": remote,
        "remote_group_id": None,
        "remote_address_group_id": None,
        "action": action,
        "priority": priority,
        "description": "",
        "enabled": True,
    }


def security_groups_v3():
    return response(
        VPC3,
        "ListSecurityGroupsResponse",
        {"security_groups": [{"id": "sg-web", "name": "sg-web"}, {"id": "sg-probe", "name": "sg-probe"}]},
    )


def security_group_rules_v3():
    return response(
        VPC3,
        "ListSecurityGroupRulesResponse",
        {
            "security_group_rules": [
                rule_v3("sgr-1", "sg-web", "ingress", "tcp", "80,443,8081,9443,50051", "192.168.0.0/24"),
                rule_v3("sgr-2", "sg-web", "ingress", "udp", "53", "192.168.0.0/24"),
                rule_v3("sgr-3", "sg-web", "ingress", "icmp", None, "192.168.0.0/24"),
                rule_v3("sgr-4", "sg-web", "ingress", "tcp", "22", "0.0.0.0/0", "deny", 10),
                rule_v3("sgr-5", "sg-web", "egress", None, None, None),
                rule_v3("sgr-6", "sg-probe", "egress", None, None, "::/0", ethertype="IPv6"),
            ]
        },
    )


def security_groups_v1():
    def rule(id, proto, lo, hi, remote=None, group=None):
        return {
            "id": id,
            "security_group_id": "sg-legacy",
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": proto,
            "port_range_min": lo,
            "port_range_max": hi,
            "remote_ip_prefix": remote,
            "remote_group_id": group,
            "remote_address_group_id": None,
            "description": "",
        }

    return response(
        VPC2,
        "ListSecurityGroupsResponse",
        {
            "security_groups": [
                {
                    "id": "sg-legacy",
                    "name": "sg-legacy",
                    "vpc_id": VPC_ID,
                    "security_group_rules": [
                        rule("sgr-legacy-1", "tcp", 8080, 8081, "100.125.0.0/16"),
                        rule("sgr-legacy-2", "icmp", 8, 0, "100.125.0.0/16"),
                        rule("sgr-legacy-3", None, None, None, group="sg-legacy"),
                    ],
                }
            ]
        },
    )


def fw_rule(id, action, proto, source, port, group=None):
    return {
        "id": id,
        "name": id,
        "description": "",
        "action": action,
        "protocol": proto,
        "ip_version": 4,
        "source_ip_address": source,
        "destination_ip_address": None,
        "source_port": None,
        "destination_port": port,
        "source_address_group_id": group,
        "destination_address_group_id": None,
        "enabled": True,
    }


def firewalls():
    return response(
        VPC3,
        "ListFirewallResponse",
        {"firewalls": [{"id": "fw-app", "name": "fw-app", "admin_state_up": True, "status": "ACTIVE", "associations": [{"virsubnet_id": SUB_APP}]}]},
    )


def firewall():
    return response(
        VPC3,
        "ShowFirewallResponse",
        {
            "firewall": {
                "id": "fw-app",
                "name": "fw-app",
                "admin_state_up": True,
                "status": "ACTIVE",
                "associations": [{"virsubnet_id": SUB_APP}],
                "ingress_rules": [
                    fw_rule("fwr-1", "allow", "tcp", "192.168.0.0/24", "80,443,8081,9443,50051"),
                    fw_rule("fwr-2", "allow", "udp", "192.168.0.0/24", "53"),
                    fw_rule("fwr-3", "allow", "icmp", "192.168.0.0/24", None),
                    fw_rule("fwr-4", "allow", "tcp", None, "8080", "ag-scrapers"),
                    fw_rule("fwr-5", "deny", "any", "0.0.0.0/0", None),
                ],
                "egress_rules": [fw_rule("fwr-6", "allow", "any", None, None) | {"destination_ip_address": "0.0.0.0/0"}],
            }
        },
    )


def address_groups():
    return response(
        VPC3,
        "ListAddressGroupResponse",
        {
            "address_groups": [
                {
                    "id": "ag-scrapers",
                    "name": "scrapers",
                    "ip_version": 4,
                    "ip_set": ["10.8.0.0/24"],
                    "ip_extra_set": [{"ip": "10.9.0.5", "remarks": ""}],
                }
            ]
        },
    )


def servers():
    def server(id, addr, groups, floating=None):
        entries = [{"addr": addr, "version": "4", "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS:port_id": f"port-{id}"}]
        if floating:
            entries.append({"addr": floating, "version": "4", "OS-EXT-IPS:type": "floating", "OS-EXT-IPS:port_id": f"port-{id}"})
        return {
            "id": id,
            "name": id,
            "status": "ACTIVE",
            # Network → its addresses; Huawei's examples key it by the VPC id.
            "addresses": {VPC_ID: entries},
            "security_groups": [{"id": g, "name": g} for g in groups],
        }

    return response(
        ECS,
        "ListServersDetailsResponse",
        {
            "count": 6,
            "servers": [
                server("ecs-web-1", "192.168.1.11", ["sg-web"], "121.36.0.30"),
                server("ecs-web-2", "192.168.1.12", ["sg-web"]),
                server("ecs-dns-1", "192.168.1.21", ["sg-web"]),
                server("ecs-app-1", "192.168.1.31", ["sg-legacy"]),
                server("ecs-app-2", "192.168.1.32", ["sg-legacy"]),
                server("ecs-probe", "192.168.0.50", ["sg-probe"]),
            ],
        },
    )


FILES = {
    "elb-loadbalancers.json": loadbalancers,
    "elb-listeners.json": listeners,
    "elb-pools.json": pools,
    "elb-healthmonitors.json": healthmonitors,
    "elb-members-all.json": all_members,
    "elb-members-pool-app.json": app_members,
    "elb-ipgroups.json": ipgroups,
    "vpc-subnets.json": subnets,
    "vpc-vpcs-v1.json": vpcs_v1,
    "vpc-vpcs-v3.json": vpcs_v3,
    "vpc-routetables.json": routetables,
    "vpc-routetable-rt-main.json": lambda: routetable("rt-main"),
    "vpc-routetable-rt-app.json": lambda: routetable("rt-app"),
    "vpc-peerings.json": peerings,
    "nat-gateways.json": nat_gateways,
    "eip-publicips-v1.json": publicips_v1,
    "eip-publicips-v3.json": publicips_v3,
    "vpc-security-groups-v3.json": security_groups_v3,
    "vpc-security-group-rules-v3.json": security_group_rules_v3,
    "vpc-security-groups-v1.json": security_groups_v1,
    "vpc-firewalls.json": firewalls,
    "vpc-firewall-fw-app.json": firewall,
    "vpc-address-groups.json": address_groups,
    "ecs-servers.json": servers,
}


def installed_versions():
    from importlib import metadata

    wrong = {}
    for pkg, want in SDK_VERSIONS.items():
        try:
            got = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            got = None
        if got != want:
            wrong[pkg] = (got, want)
    return wrong


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--requirements", action="store_true", help="print the pinned SDK packages for pip and exit")
    args = p.parse_args()
    if args.requirements:
        print(" ".join(f"{pkg}=={v}" for pkg, v in SDK_VERSIONS.items()))
        return
    wrong = installed_versions()
    if wrong:
        for pkg, (got, want) in wrong.items():
            print(f"{pkg}: installed {got}, pinned {want}", file=sys.stderr)
        sys.exit(2)
    generated = {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in FILES.items()}
    if args.check:
        present = {p.name for p in args.out.glob("*.json")}
        bad = sorted(present - set(generated))
        for name in bad:
            print(f"{args.out / name}: not generated by scripts/huawei-fixtures.py", file=sys.stderr)
        for name, text in generated.items():
            path = args.out / name
            old = path.read_text() if path.exists() else ""
            if old != text:
                bad.append(name)
                sys.stderr.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True), str(path), "generated"))
        if bad:
            print("tests/fixtures/huawei/sdk/ differs from the SDK models: run python3 scripts/huawei-fixtures.py", file=sys.stderr)
            sys.exit(1)
        print(f"{len(generated)} fixtures match the SDK models")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("*.json"):
        if stale.name not in generated:
            stale.unlink()
    for name, text in generated.items():
        (args.out / name).write_text(text)
    print(f"wrote {len(generated)} files to {args.out}")


if __name__ == "__main__":
    main()
