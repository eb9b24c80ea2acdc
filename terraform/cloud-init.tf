# Cloud-init for every node, rendered from cloud-init/*.yaml.tftpl. Static
# logic lives in scripts/ (linted by shellcheck); the templates only add the
# per-node settings (/etc/transcept/node.env) and, on the first server, the
# manifests that k3s deploys by itself from its auto-deploy directory.

locals {
  gpu_label_parts = regex("^([^=]+)=(.*)$", var.gpu_node_label)
  gpu_taint_parts = regex("^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$", var.gpu_node_taint)
  gpu_label_key   = local.gpu_label_parts[0]
  gpu_label_value = local.gpu_label_parts[1]
  gpu_taint_key   = local.gpu_taint_parts[0]

  # Service passwords derive from the (secret) join token: stable across plans
  # without another provider, and readable later from the cluster's Secrets.
  minio_password    = substr(sha256("transcept/minio/${var.k3s_token}"), 0, 40)
  redis_password    = substr(sha256("transcept/redis/${var.k3s_token}"), 0, 40)
  postgres_password = substr(sha256("transcept/postgres/${var.k3s_token}"), 0, 40)
  grafana_password  = substr(sha256("transcept/grafana/${var.k3s_token}"), 0, 24)

  # Shared by every node's node.env.
  common_env = {
    K3S_TOKEN                  = var.k3s_token
    TRANSCEPT_SERVER_URL       = local.server_url
    TRANSCEPT_SERVER_COUNT     = tostring(var.server_count)
    TRANSCEPT_K3S_CHANNEL      = var.k3s_channel
    TRANSCEPT_K3S_VERSION      = var.k3s_version
    TRANSCEPT_SUBNET_CIDR      = var.create_network ? var.subnet_cidr : ""
    TRANSCEPT_KNATIVE_VERSION  = var.knative_version
    TRANSCEPT_DATA_NAMESPACE   = var.data_namespace
    TRANSCEPT_DEPLOY_INFRA     = tostring(var.deploy_infra)
    TRANSCEPT_REPO_URL         = var.transcept_repo_url
    TRANSCEPT_GIT_REF          = var.transcept_git_ref
    TRANSCEPT_GPU_RUNTIMECLASS = "nvidia"
  }

  node_env = merge(
    {
      for i in range(var.server_count) : "server-${i}" => merge(local.common_env, {
        TRANSCEPT_ROLE           = "server"
        TRANSCEPT_NODE_NAME      = "${var.name_prefix}-server-${i}"
        TRANSCEPT_CLUSTER_INIT   = tostring(i == 0 && var.server_count > 1)
        TRANSCEPT_JOIN           = tostring(i > 0)
        TRANSCEPT_INSTALL_ADDONS = tostring(i == 0)
        TRANSCEPT_GPU            = tostring(local.server_gpu)
        TRANSCEPT_NODE_LABELS    = join(" ", concat(["transcept.io/role=server"], local.server_gpu ? [var.gpu_node_label] : []))
        # Servers on GPU hosts keep hosting the platform, so they are not tainted.
        TRANSCEPT_NODE_TAINTS = ""
      })
    },
    {
      for i in range(var.gpu_node_count) : "gpu-${i}" => merge(local.common_env, {
        TRANSCEPT_ROLE           = "agent"
        TRANSCEPT_NODE_NAME      = "${var.name_prefix}-gpu-${i}"
        TRANSCEPT_CLUSTER_INIT   = "false"
        TRANSCEPT_JOIN           = "true"
        TRANSCEPT_INSTALL_ADDONS = "false"
        TRANSCEPT_GPU            = "true"
        TRANSCEPT_NODE_LABELS    = join(" ", ["transcept.io/role=gpu", var.gpu_node_label])
        TRANSCEPT_NODE_TAINTS    = var.gpu_node_taint
      })
    },
    {
      for i in range(var.cpu_node_count) : "cpu-${i}" => merge(local.common_env, {
        TRANSCEPT_ROLE           = "agent"
        TRANSCEPT_NODE_NAME      = "${var.name_prefix}-cpu-${i}"
        TRANSCEPT_CLUSTER_INIT   = "false"
        TRANSCEPT_JOIN           = "true"
        TRANSCEPT_INSTALL_ADDONS = "false"
        TRANSCEPT_GPU            = "false"
        TRANSCEPT_NODE_LABELS    = "transcept.io/role=cpu"
        TRANSCEPT_NODE_TAINTS    = ""
      })
    },
  )

  # Sourced by bash: every value single-quoted.
  node_env_file = {
    for node, env in local.node_env : node => join("\n", [
      for k in sort(keys(env)) : "${k}='${replace(env[k], "'", "'\\''")}'"
    ])
  }

  # Deployed by k3s from /var/lib/rancher/k3s/server/manifests on the first server.
  server_manifests = {
    "transcept-nvidia.yaml" = templatefile("${path.module}/manifests/nvidia.yaml.tftpl", {
      device_plugin_version = var.nvidia_device_plugin_version
      gpu_label_key         = local.gpu_label_key
      gpu_label_value       = local.gpu_label_value
      gpu_taint_key         = local.gpu_taint_key
    })
    "transcept-data.yaml" = templatefile("${path.module}/manifests/data.yaml.tftpl", {
      namespace         = var.data_namespace
      minio_image       = var.minio_image
      minio_password    = local.minio_password
      redis_image       = var.redis_image
      redis_password    = local.redis_password
      postgres_image    = var.postgres_image
      postgres_password = local.postgres_password
    })
    "transcept-monitoring.yaml" = templatefile("${path.module}/manifests/monitoring.yaml.tftpl", {
      chart_version    = var.kube_prometheus_stack_version
      grafana_password = local.grafana_password
    })
  }

  bootstrap_script = file("${path.module}/scripts/k3s-bootstrap.sh")
  addons_script    = file("${path.module}/scripts/install-addons.sh")

  user_data = merge(
    {
      for i in range(var.server_count) : "server-${i}" => templatefile("${path.module}/cloud-init/server.yaml.tftpl", {
        node_name        = "${var.name_prefix}-server-${i}"
        node_env         = local.node_env_file["server-${i}"]
        bootstrap_script = local.bootstrap_script
        addons_script    = local.addons_script
        manifests        = i == 0 ? local.server_manifests : {}
      })
    },
    {
      for node in concat([for i in range(var.gpu_node_count) : "gpu-${i}"], [for i in range(var.cpu_node_count) : "cpu-${i}"]) :
      node => templatefile("${path.module}/cloud-init/agent.yaml.tftpl", {
        node_name        = "${var.name_prefix}-${node}"
        node_env         = local.node_env_file[node]
        bootstrap_script = local.bootstrap_script
        gpu              = local.node_env[node].TRANSCEPT_GPU == "true"
      })
    },
  )
}
