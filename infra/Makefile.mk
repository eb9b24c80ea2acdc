# Images and Knative deployment. Included by the root Makefile, so every path
# is relative to the repository root. infra/README.md walks through it.

INFRA_DIR      ?= infra
INFRA_GO       ?= go
DOCKER         ?= docker
KUBECTL        ?= kubectl
KN             ?= kn
FUNC           ?= func
NAMESPACE      ?= transcept
IMAGE          ?= ghcr.io/transcept/transcept
CUDA_IMAGE     ?= ghcr.io/transcept/transcept-cuda
TAG            ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# sha256 of onnxruntime-linux-x64-gpu-<version>.tgz; required by the CUDA image.
ORT_GPU_SHA256 ?=
# How `make deploy` applies: kubectl (kustomize, everything), func or kn
# (the Services only; the Broker, Triggers, MinIO and monitoring via kubectl).
DEPLOY         ?= kubectl
GPU_FUNCTIONS  := transcribe summarize
CPU_FUNCTIONS  := gateway ingest segment index answer

.PHONY: images image-cpu image-cuda push deploy deploy-platform infra-validate infra-render

# infra/ as kustomize renders it, with the images at IMAGE:TAG and CUDA_IMAGE:TAG.
INFRA_RENDER = $(KUBECTL) kustomize $(INFRA_DIR) | sed \
	-e 's\#ghcr.io/transcept/transcept-cuda:latest\#$(CUDA_IMAGE):$(TAG)\#' \
	-e 's\#ghcr.io/transcept/transcept:latest\#$(IMAGE):$(TAG)\#'

ifeq ($(filter $(DEPLOY),kubectl func kn),)
$(error DEPLOY=$(DEPLOY): want kubectl, func or kn)
endif

define need_docker
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make $@: $(DOCKER) is not installed" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make $@: no container engine answers ($(DOCKER) info failed): start Docker (or point DOCKER_HOST at one); images cannot be built here" >&2; exit 1; }
endef

images: image-cpu image-cuda ## Build both images (IMAGE:TAG and CUDA_IMAGE:TAG; CUDA needs ORT_GPU_SHA256=...)

image-cpu: ## Build the CPU image from gpu-runtime/Dockerfile
	$(need_docker)
	$(DOCKER) build -f gpu-runtime/Dockerfile --build-arg VERSION=$(TAG) -t $(IMAGE):$(TAG) .

image-cuda: ## Build the CUDA image from gpu-runtime/Dockerfile.cuda (set ORT_GPU_SHA256)
	$(need_docker)
	@test -n "$(ORT_GPU_SHA256)" || { echo "make $@: set ORT_GPU_SHA256 to the sha256 of onnxruntime-linux-x64-gpu-1.30.0.tgz" >&2; exit 1; }
	$(DOCKER) build -f gpu-runtime/Dockerfile.cuda --build-arg VERSION=$(TAG) --build-arg ORT_GPU_SHA256=$(ORT_GPU_SHA256) -t $(CUDA_IMAGE):$(TAG) .

push: ## Push IMAGE:TAG and CUDA_IMAGE:TAG (docker login first)
	$(need_docker)
	$(DOCKER) push $(IMAGE):$(TAG)
	$(DOCKER) push $(CUDA_IMAGE):$(TAG)

infra-render: ## Print the manifests make deploy applies (kubectl kustomize, images at TAG)
	@$(INFRA_RENDER)

# Everything in infra/, then MinIO's environment from transcept-minio-notify
# (its webhook target; `kubectl set env` is a no-op when nothing changed).
deploy-platform:
	@command -v $(KUBECTL) >/dev/null 2>&1 || { echo "make deploy: $(KUBECTL) not installed" >&2; exit 1; }
	$(INFRA_RENDER) | $(KUBECTL) apply -f -
	$(KUBECTL) -n $(NAMESPACE) set env deployment/minio --from=configmap/transcept-minio-notify
	$(KUBECTL) -n $(NAMESPACE) rollout status deployment/minio --timeout=300s

deploy: deploy-platform ## Deploy to the current kube context: DEPLOY=kubectl (default), func or kn; images at TAG
ifeq ($(DEPLOY),kubectl)
	@echo "deployed infra/ with $(IMAGE):$(TAG) and $(CUDA_IMAGE):$(TAG)"
else ifeq ($(DEPLOY),func)
	@command -v $(FUNC) >/dev/null 2>&1 || { echo "make deploy: $(FUNC) (knative func CLI) not installed" >&2; exit 1; }
	@# func deploys the CPU functions from their func.yaml with the prebuilt image (no
	@# build: func's host builder would drop cgo). The GPU stages keep the Services
	@# applied above: their placement (nodeSelector, tolerations, runtimeClassName)
	@# is not expressible in func.yaml.
	$(FUNC) deploy --build=false --path . --image $(IMAGE):$(TAG) --namespace $(NAMESPACE)
	for fn in $(filter-out gateway,$(CPU_FUNCTIONS)); do \
		$(FUNC) deploy --build=false --path functions/$$fn --image $(IMAGE):$(TAG) --namespace $(NAMESPACE) || exit 1; done
else ifeq ($(DEPLOY),kn)
	@command -v $(KN) >/dev/null 2>&1 || { echo "make deploy: $(KN) not installed" >&2; exit 1; }
	@# kn rolls each Service to the new image as a new revision (traffic to @latest).
	for fn in $(CPU_FUNCTIONS); do \
		$(KN) service update transcept-$$fn -n $(NAMESPACE) --image $(IMAGE):$(TAG) || exit 1; done
	for fn in $(GPU_FUNCTIONS); do \
		$(KN) service update transcept-$$fn -n $(NAMESPACE) --image $(CUDA_IMAGE):$(TAG) || exit 1; done
endif

infra-validate: ## Validate infra/, func.yaml and the Dockerfiles offline (Knative types, SetDefaults+Validate, cross-checks)
	$(INFRA_GO) test -count=1 ./tests/infra/...
