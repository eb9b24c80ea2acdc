# ---------------------------------------------------------------------------
# Cloud and site
# ---------------------------------------------------------------------------

variable "cloud" {
  description = "Entry of clouds.yaml to use. Empty: OS_CLOUD, or the OS_* variables of a sourced openrc file."
  type        = string
  default     = ""
}

variable "site" {
  description = "Chameleon site, which is also the OpenStack region name (CHI@UC has gpu_rtx_6000 and gpu_a100_pcie nodes)."
  type        = string
  default     = "CHI@UC"

  validation {
    condition     = contains(["CHI@UC", "CHI@TACC", "CHI@NCAR", "CHI@NU", "KVM@TACC"], var.site)
    error_message = "The site must be one of CHI@UC, CHI@TACC, CHI@NCAR, CHI@NU, KVM@TACC."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name, so several clusters can share a project."
  type        = string
  default     = "transcept"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "Use lower-case letters, digits and dashes (at most 31 characters), starting with a letter."
  }
}

# ---------------------------------------------------------------------------
# Blazar reservations (made by terraform/scripts/gpu-lease.sh, `make gpu-lease`)
# ---------------------------------------------------------------------------

variable "gpu_reservation_id" {
  description = "Blazar reservation id of the GPU hosts (passed as the `reservation` scheduler hint). Required on bare-metal (CHI@*) sites."
  type        = string
  default     = ""
}

variable "cpu_reservation_id" {
  description = "Blazar reservation id of plain compute hosts for the k3s server(s) and CPU agents. Empty: the server(s) run on GPU hosts of gpu_reservation_id (and then also serve GPU work, untainted)."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------

variable "server_count" {
  description = "k3s servers (control plane, also run the platform: Knative, MinIO, Redis, Prometheus). 1, or 3 for an embedded-etcd HA control plane."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 3, 5], var.server_count)
    error_message = "server_count must be 1, 3 or 5 (etcd needs an odd number)."
  }
}

variable "gpu_node_count" {
  description = "k3s agents on GPU hosts: NVIDIA runtime, labelled and tainted for the inference functions."
  type        = number
  default     = 1

  validation {
    condition     = var.gpu_node_count >= 0 && var.gpu_node_count == floor(var.gpu_node_count)
    error_message = "gpu_node_count must be a whole number >= 0."
  }
}

variable "cpu_node_count" {
  description = "k3s agents on plain compute hosts (need cpu_reservation_id on bare-metal sites)."
  type        = number
  default     = 0

  validation {
    condition     = var.cpu_node_count >= 0 && var.cpu_node_count == floor(var.cpu_node_count)
    error_message = "cpu_node_count must be a whole number >= 0."
  }
}

variable "gpu_image_name" {
  description = "Image of GPU hosts (NVIDIA driver and CUDA preinstalled)."
  type        = string
  default     = "CC-Ubuntu22.04-CUDA"
}

variable "cpu_image_name" {
  description = "Image of plain compute hosts."
  type        = string
  default     = "CC-Ubuntu22.04"
}

variable "flavor_name" {
  description = "Instance flavor; Chameleon bare-metal sites have only `baremetal`."
  type        = string
  default     = "baremetal"
}

variable "ssh_user" {
  description = "Login user of the images (cc on Chameleon images)."
  type        = string
  default     = "cc"
}

variable "key_pair" {
  description = "Name of the OpenStack key pair installed on every node. Must exist at the site unless ssh_public_key is set."
  type        = string
  default     = "transcept"
}

variable "ssh_public_key" {
  description = "OpenSSH public key. When set, Terraform creates the key pair named key_pair from it."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

variable "create_network" {
  description = "Create a private network, subnet and router for the cluster. False: attach nodes to existing_network_id (e.g. Chameleon's sharednet1)."
  type        = bool
  default     = true
}

variable "network_name" {
  description = "Name of the network (and subnet) created when create_network is true."
  type        = string
  default     = "transcept-net"
}

variable "subnet_cidr" {
  description = "CIDR of the created subnet. Servers get fixed addresses from host 10 on."
  type        = string
  default     = "192.168.64.0/24"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 16))
    error_message = "subnet_cidr must be an IPv4 CIDR with room for at least 16 hosts."
  }
}

variable "dns_nameservers" {
  description = "DNS servers handed out on the created subnet."
  type        = list(string)
  default     = ["8.8.8.8", "8.8.4.4"]
}

variable "external_network_name" {
  description = "Name of the external network: the floating IP pool (`public` on Chameleon)."
  type        = string
  default     = "public"
}

variable "external_network_id" {
  description = "ID of the external network, for the router gateway (`openstack network show public -f value -c id`; gpu-lease.sh writes it). Required when create_network is true."
  type        = string
  default     = ""
}

variable "existing_network_id" {
  description = "ID of an existing network to attach the nodes to when create_network is false (e.g. sharednet1)."
  type        = string
  default     = ""
}

variable "ssh_allowed_cidrs" {
  description = "Sources allowed to reach SSH (22/tcp) on the nodes."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "api_allowed_cidrs" {
  description = "Sources allowed to reach the Kubernetes API (6443/tcp) on the servers."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "http_allowed_cidrs" {
  description = "Sources allowed to reach HTTP/HTTPS ingress (Kourier on 80/443) on the servers."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# ---------------------------------------------------------------------------
# Cluster software
# ---------------------------------------------------------------------------

variable "k3s_token" {
  description = "Shared secret with which nodes join the cluster (`openssl rand -hex 32`; gpu-lease.sh writes one)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.k3s_token) >= 32 && can(regex("^[A-Za-z0-9]+$", var.k3s_token))
    error_message = "k3s_token must be at least 32 letters or digits (openssl rand -hex 32)."
  }
}

variable "k3s_channel" {
  description = "k3s release channel used when k3s_version is empty."
  type        = string
  default     = "stable"
}

variable "k3s_version" {
  description = "Exact k3s version (e.g. v1.33.4+k3s1); empty follows k3s_channel."
  type        = string
  default     = ""
}

variable "knative_version" {
  description = "Knative release (Serving, Eventing, Kourier) installed by the bootstrap; 1.23 matches the v0.50 Go modules the manifests are validated against."
  type        = string
  default     = "1.23.0"
}

variable "nvidia_device_plugin_version" {
  description = "Tag of the NVIDIA Kubernetes device plugin image (advertises nvidia.com/gpu)."
  type        = string
  default     = "v0.17.0"
}

variable "kube_prometheus_stack_version" {
  description = "Version of the kube-prometheus-stack Helm chart (Prometheus, Grafana); empty installs the newest."
  type        = string
  default     = ""
}

variable "minio_image" {
  description = "MinIO server image."
  type        = string
  default     = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
}

variable "redis_image" {
  description = "Redis image."
  type        = string
  default     = "redis:7.4-alpine"
}

variable "postgres_image" {
  description = "PostgreSQL image: the lecture catalogue and accounts database (TRANSCEPT_DATABASE_URL). An exact tag; the Alpine variant runs as uid 70."
  type        = string
  default     = "postgres:17.6-alpine"
}

variable "data_namespace" {
  description = "Namespace of MinIO, Redis, PostgreSQL and the transcept-config Secret (MINIO_*, REDIS_URL, TRANSCEPT_DATABASE_URL) the functions read."
  type        = string
  default     = "transcept"
}

variable "gpu_node_label" {
  description = "Label (key=value) on GPU nodes; the inference functions select it."
  type        = string
  default     = "transcept.io/gpu=true"

  validation {
    condition     = can(regex("^[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*$", var.gpu_node_label))
    error_message = "gpu_node_label must look like key=value."
  }
}

variable "gpu_node_taint" {
  description = "Taint (key=value:Effect) on GPU agents, so only pods that tolerate it land there."
  type        = string
  default     = "nvidia.com/gpu=present:NoSchedule"

  validation {
    condition     = can(regex("^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$", var.gpu_node_taint))
    error_message = "gpu_node_taint must look like key=value:Effect (Effect: NoSchedule, PreferNoSchedule or NoExecute)."
  }
}

variable "deploy_infra" {
  description = "Apply this project's infra/ kustomization (at transcept_git_ref) after the platform is up; skipped with a warning if it is absent."
  type        = bool
  default     = true
}

variable "transcept_repo_url" {
  description = "Git URL of the Transcept repository, whose infra/ kustomization is applied."
  type        = string
  default     = "https://github.com/transcept/transcept"
}

variable "transcept_git_ref" {
  description = "Git ref (branch, tag or commit) of infra/ to apply."
  type        = string
  default     = "main"
}
