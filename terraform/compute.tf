# Instances per role. On Chameleon bare-metal sites every instance must be
# scheduled on a Blazar reservation: its id travels as the `reservation`
# scheduler hint (made by scripts/gpu-lease.sh; the provider has no lease resource).

locals {
  requires_reservation = startswith(var.site, "CHI@")

  # Without a CPU reservation the servers run on GPU hosts of the GPU lease.
  server_reservation = var.cpu_reservation_id != "" ? var.cpu_reservation_id : var.gpu_reservation_id
  server_gpu         = var.cpu_reservation_id == "" && var.gpu_reservation_id != ""
  server_image       = local.server_gpu ? var.gpu_image_name : var.cpu_image_name

  network_id = var.create_network ? openstack_networking_network_v2.cluster[0].id : var.existing_network_id

  # Fixed server addresses on the created subnet keep the agents' join URL known
  # at plan time; on an existing network the port's address is used.
  server_ips     = [for i in range(var.server_count) : cidrhost(var.subnet_cidr, 10 + i)]
  server_join_ip = var.create_network ? local.server_ips[0] : openstack_networking_port_v2.server[0].all_fixed_ips[0]
  server_url     = "https://${local.server_join_ip}:6443"

  key_pair_name = var.ssh_public_key != "" ? openstack_compute_keypair_v2.cluster[0].name : var.key_pair
}

resource "openstack_compute_keypair_v2" "cluster" {
  count      = var.ssh_public_key != "" ? 1 : 0
  name       = var.key_pair
  public_key = var.ssh_public_key
}

resource "openstack_compute_instance_v2" "server" {
  count       = var.server_count
  name        = "${var.name_prefix}-server-${count.index}"
  image_name  = local.server_image
  flavor_name = var.flavor_name
  key_pair    = local.key_pair_name
  user_data   = local.user_data["server-${count.index}"]

  metadata = {
    "transcept-role" = "server"
    "transcept-gpu"  = tostring(local.server_gpu)
  }

  network {
    port = openstack_networking_port_v2.server[count.index].id
  }

  dynamic "scheduler_hints" {
    for_each = local.server_reservation != "" ? [local.server_reservation] : []
    content {
      additional_properties = {
        reservation = scheduler_hints.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !local.requires_reservation || local.server_reservation != ""
      error_message = "${var.site} is a bare-metal site: set cpu_reservation_id or gpu_reservation_id (make gpu-lease)."
    }
  }

  # The floating IP must be bound before boot: the node reads it from the
  # metadata service for the API certificate and the Knative domain.
  depends_on = [openstack_networking_floatingip_v2.server]
}

resource "openstack_compute_instance_v2" "gpu" {
  count       = var.gpu_node_count
  name        = "${var.name_prefix}-gpu-${count.index}"
  image_name  = var.gpu_image_name
  flavor_name = var.flavor_name
  key_pair    = local.key_pair_name
  user_data   = local.user_data["gpu-${count.index}"]

  metadata = {
    "transcept-role" = "gpu"
    "transcept-gpu"  = "true"
  }

  network {
    port = openstack_networking_port_v2.gpu[count.index].id
  }

  dynamic "scheduler_hints" {
    for_each = var.gpu_reservation_id != "" ? [var.gpu_reservation_id] : []
    content {
      additional_properties = {
        reservation = scheduler_hints.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !local.requires_reservation || var.gpu_reservation_id != ""
      error_message = "${var.site} is a bare-metal site: set gpu_reservation_id (make gpu-lease)."
    }
  }
}

resource "openstack_compute_instance_v2" "cpu" {
  count       = var.cpu_node_count
  name        = "${var.name_prefix}-cpu-${count.index}"
  image_name  = var.cpu_image_name
  flavor_name = var.flavor_name
  key_pair    = local.key_pair_name
  user_data   = local.user_data["cpu-${count.index}"]

  metadata = {
    "transcept-role" = "cpu"
    "transcept-gpu"  = "false"
  }

  network {
    port = openstack_networking_port_v2.cpu[count.index].id
  }

  dynamic "scheduler_hints" {
    for_each = var.cpu_reservation_id != "" ? [var.cpu_reservation_id] : []
    content {
      additional_properties = {
        reservation = scheduler_hints.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !local.requires_reservation || var.cpu_reservation_id != ""
      error_message = "${var.site} is a bare-metal site: cpu_node_count > 0 needs cpu_reservation_id (make gpu-lease CPU_NODES=n)."
    }
  }
}
