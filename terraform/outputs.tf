locals {
  public_ip      = openstack_networking_floatingip_v2.server.address
  ssh_target     = "${var.ssh_user}@${local.public_ip}"
  ssh_opts       = "-o StrictHostKeyChecking=accept-new"
  kubeconfig     = "kubeconfig-${var.name_prefix}.yaml"
  knative_domain = "${local.public_ip}.sslip.io"
}

output "server_public_ip" {
  description = "Floating IP of the first k3s server (API, ingress, SSH jump host)."
  value       = local.public_ip
}

output "kubernetes_api" {
  description = "Kubernetes API endpoint."
  value       = "https://${local.public_ip}:6443"
}

output "endpoints" {
  description = "Where the cluster's services answer. Knative Services get http://<name>.<namespace>.<knative_domain>."
  value = {
    kubernetes_api = "https://${local.public_ip}:6443"
    ingress_http   = "http://${local.public_ip}"
    ingress_https  = "https://${local.public_ip}"
    knative_domain = local.knative_domain
    minio          = "minio.${var.data_namespace}.svc.cluster.local:9000 (in cluster; kubectl -n ${var.data_namespace} port-forward svc/minio 9000 9001)"
    redis          = "redis.${var.data_namespace}.svc.cluster.local:6379 (in cluster)"
    postgres       = "postgres.${var.data_namespace}.svc.cluster.local:5432 (in cluster; TRANSCEPT_DATABASE_URL in Secret transcept-config)"
    prometheus     = "kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090"
    grafana        = "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80 (user admin)"
  }
}

output "nodes" {
  description = "Every node: role, private address, reservation."
  value = merge(
    { for i, s in openstack_compute_instance_v2.server : s.name => { role = "server", gpu = local.server_gpu, private_ip = s.access_ip_v4, reservation = local.server_reservation } },
    { for i, s in openstack_compute_instance_v2.gpu : s.name => { role = "gpu", gpu = true, private_ip = s.access_ip_v4, reservation = var.gpu_reservation_id } },
    { for i, s in openstack_compute_instance_v2.cpu : s.name => { role = "cpu", gpu = false, private_ip = s.access_ip_v4, reservation = var.cpu_reservation_id } },
  )
}

output "ssh_command" {
  description = "SSH to the first server; other nodes through it: ssh -J <this target> cc@<private_ip>."
  value       = "ssh ${local.ssh_opts} ${local.ssh_target}"
}

output "bootstrap_log_command" {
  description = "Follow the cluster bootstrap on the first server (done when /var/lib/transcept/addons.done exists)."
  value       = "ssh ${local.ssh_opts} ${local.ssh_target} sudo tail -f /var/log/transcept-bootstrap.log"
}

output "kubeconfig_command" {
  description = "Fetch a kubeconfig that reaches the API through the floating IP."
  value       = "ssh ${local.ssh_opts} ${local.ssh_target} sudo cat /etc/rancher/k3s/k3s.yaml | sed 's#https://127.0.0.1:6443#https://${local.public_ip}:6443#' > ${local.kubeconfig} && chmod 600 ${local.kubeconfig} && export KUBECONFIG=$PWD/${local.kubeconfig}"
}

output "next_steps" {
  description = "What to run after apply."
  value       = <<-EOT
    1. Watch the bootstrap (k3s, NVIDIA runtime, Knative, MinIO, Redis, PostgreSQL, Prometheus; about 10-20 minutes):
         ssh ${local.ssh_opts} ${local.ssh_target} sudo tail -f /var/log/transcept-bootstrap.log
       It is done when this prints "ready":
         ssh ${local.ssh_opts} ${local.ssh_target} 'test -f /var/lib/transcept/addons.done && echo ready'
    2. Fetch the kubeconfig:
         make tf-kubeconfig        (or: terraform -chdir=terraform output -raw kubeconfig_command | sh)
         export KUBECONFIG=$PWD/${local.kubeconfig}
         kubectl get nodes -L transcept.io/role,transcept.io/gpu
    3. Deploy Transcept (infra/ was applied at ref ${var.transcept_git_ref} if the repository had it):
         make deploy
    4. Find the functions' URLs (http://<service>.<namespace>.${local.knative_domain}) and try one:
         kubectl get ksvc -A
         curl -sS http://<service>.<namespace>.${local.knative_domain}/summarize -d '{"text":"..."}'
    5. Before the lease ends: terraform destroy, then make gpu-lease LEASE_ACTION=delete.
  EOT
}
