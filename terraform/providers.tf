# Credentials come from clouds.yaml (var.cloud or OS_CLOUD) or from a sourced
# Chameleon openrc file (OS_AUTH_URL, OS_APPLICATION_CREDENTIAL_ID, ...).
#
# The provider authenticates lazily (delayed_auth, the default): nothing here
# needs the cloud until a resource is created, read or deleted, which is what
# lets `tofu plan` run offline in CI for a configuration without data sources.
provider "openstack" {
  cloud  = var.cloud == "" ? null : var.cloud
  region = var.site
}
