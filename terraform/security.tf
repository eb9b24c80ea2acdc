# Two groups: "cluster" on every node (SSH, ICMP and node-to-node traffic from
# members of the same group) and "edge" on the servers (Kubernetes API and the
# Kourier ingress that k3s's service load balancer binds on 80/443).

locals {
  # Node-to-node ports of a k3s cluster with flannel VXLAN, plus what the
  # platform scrapes. Sources are members of the cluster group only.
  cluster_internal_rules = {
    "k8s-api"         = { protocol = "tcp", from = 6443, to = 6443, description = "agents to the Kubernetes API" }
    "kubelet"         = { protocol = "tcp", from = 10250, to = 10250, description = "kubelet API (logs, exec, metrics-server)" }
    "flannel-vxlan"   = { protocol = "udp", from = 8472, to = 8472, description = "flannel VXLAN overlay" }
    "flannel-wg"      = { protocol = "udp", from = 51820, to = 51821, description = "flannel WireGuard backends (optional)" }
    "etcd"            = { protocol = "tcp", from = 2379, to = 2380, description = "embedded etcd between servers" }
    "spegel"          = { protocol = "tcp", from = 5001, to = 5001, description = "k3s embedded registry mirror" }
    "node-exporter"   = { protocol = "tcp", from = 9100, to = 9100, description = "Prometheus node exporter" }
    "nodeports"       = { protocol = "tcp", from = 30000, to = 32767, description = "Kubernetes NodePort services" }
    "nodeports-udp"   = { protocol = "udp", from = 30000, to = 32767, description = "Kubernetes NodePort services" }
    "ingress-http"    = { protocol = "tcp", from = 80, to = 80, description = "Kourier via service load balancer" }
    "ingress-https"   = { protocol = "tcp", from = 443, to = 443, description = "Kourier via service load balancer" }
    "kubelet-metrics" = { protocol = "tcp", from = 10249, to = 10249, description = "kube-proxy metrics" }
  }

  cluster_external_rules = merge(
    { for cidr in var.ssh_allowed_cidrs : "ssh ${cidr}" => { protocol = "tcp", from = 22, to = 22, cidr = cidr, description = "SSH" } },
    { "icmp 0.0.0.0/0" = { protocol = "icmp", from = 0, to = 0, cidr = "0.0.0.0/0", description = "ping, path MTU discovery" } },
  )

  edge_rules = merge(
    { for cidr in var.api_allowed_cidrs : "k8s-api ${cidr}" => { protocol = "tcp", from = 6443, to = 6443, cidr = cidr, description = "Kubernetes API" } },
    { for cidr in var.http_allowed_cidrs : "http ${cidr}" => { protocol = "tcp", from = 80, to = 80, cidr = cidr, description = "HTTP ingress (Kourier)" } },
    { for cidr in var.http_allowed_cidrs : "https ${cidr}" => { protocol = "tcp", from = 443, to = 443, cidr = cidr, description = "HTTPS ingress (Kourier)" } },
  )
}

resource "openstack_networking_secgroup_v2" "cluster" {
  name        = "${var.name_prefix}-cluster"
  description = "Transcept k3s nodes: SSH, ICMP and traffic between cluster members"
}

resource "openstack_networking_secgroup_v2" "edge" {
  name        = "${var.name_prefix}-edge"
  description = "Transcept k3s servers: Kubernetes API and HTTP/HTTPS ingress"
}

resource "openstack_networking_secgroup_rule_v2" "cluster_internal" {
  for_each          = local.cluster_internal_rules
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.from
  port_range_max    = each.value.to
  remote_group_id   = openstack_networking_secgroup_v2.cluster.id
  description       = each.value.description
}

resource "openstack_networking_secgroup_rule_v2" "cluster_external" {
  for_each          = local.cluster_external_rules
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.protocol == "icmp" ? null : each.value.from
  port_range_max    = each.value.protocol == "icmp" ? null : each.value.to
  remote_ip_prefix  = each.value.cidr
  description       = each.value.description
}

resource "openstack_networking_secgroup_rule_v2" "edge" {
  for_each          = local.edge_rules
  security_group_id = openstack_networking_secgroup_v2.edge.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.from
  port_range_max    = each.value.to
  remote_ip_prefix  = each.value.cidr
  description       = each.value.description
}
