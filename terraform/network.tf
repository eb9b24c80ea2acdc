# Private network with a router to the external network, or an existing network
# (create_network = false). Every node gets an explicit port, so security groups
# and the floating IP attach to ports and the servers can have fixed addresses.

resource "openstack_networking_network_v2" "cluster" {
  count          = var.create_network ? 1 : 0
  name           = var.network_name
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "cluster" {
  count           = var.create_network ? 1 : 0
  name            = "${var.network_name}-subnet"
  network_id      = openstack_networking_network_v2.cluster[0].id
  cidr            = var.subnet_cidr
  ip_version      = 4
  dns_nameservers = var.dns_nameservers

  allocation_pool {
    start = cidrhost(var.subnet_cidr, 32)
    end   = cidrhost(var.subnet_cidr, -2)
  }
}

resource "openstack_networking_router_v2" "cluster" {
  count               = var.create_network ? 1 : 0
  name                = "${var.name_prefix}-router"
  admin_state_up      = true
  external_network_id = var.external_network_id

  lifecycle {
    precondition {
      condition     = var.external_network_id != ""
      error_message = "external_network_id is required when create_network is true: openstack network show ${var.external_network_name} -f value -c id"
    }
  }
}

resource "openstack_networking_router_interface_v2" "cluster" {
  count     = var.create_network ? 1 : 0
  router_id = openstack_networking_router_v2.cluster[0].id
  subnet_id = openstack_networking_subnet_v2.cluster[0].id
}

resource "openstack_networking_port_v2" "server" {
  count              = var.server_count
  name               = "${var.name_prefix}-server-${count.index}"
  network_id         = local.network_id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id, openstack_networking_secgroup_v2.edge.id]

  dynamic "fixed_ip" {
    for_each = var.create_network ? [local.server_ips[count.index]] : []
    content {
      subnet_id  = openstack_networking_subnet_v2.cluster[0].id
      ip_address = fixed_ip.value
    }
  }

  lifecycle {
    precondition {
      condition     = var.create_network || var.existing_network_id != ""
      error_message = "existing_network_id is required when create_network is false (openstack network show sharednet1 -f value -c id)."
    }
  }
}

resource "openstack_networking_port_v2" "gpu" {
  count              = var.gpu_node_count
  name               = "${var.name_prefix}-gpu-${count.index}"
  network_id         = local.network_id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id]

  dynamic "fixed_ip" {
    for_each = var.create_network ? [1] : []
    content {
      subnet_id = openstack_networking_subnet_v2.cluster[0].id
    }
  }
}

resource "openstack_networking_port_v2" "cpu" {
  count              = var.cpu_node_count
  name               = "${var.name_prefix}-cpu-${count.index}"
  network_id         = local.network_id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id]

  dynamic "fixed_ip" {
    for_each = var.create_network ? [1] : []
    content {
      subnet_id = openstack_networking_subnet_v2.cluster[0].id
    }
  }
}

# The floating IP of the first server: Kubernetes API, HTTP(S) ingress, SSH jump
# host. It is bound to the port before the instance boots, so the node can read
# its public address from the metadata service and put it in the API certificate.
resource "openstack_networking_floatingip_v2" "server" {
  pool        = var.external_network_name
  port_id     = openstack_networking_port_v2.server[0].id
  description = "${var.name_prefix} Kubernetes API and ingress"

  depends_on = [openstack_networking_router_interface_v2.cluster]
}
