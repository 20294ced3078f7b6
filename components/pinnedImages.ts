/**
 * Third-party images the platform runs, pinned by digest. Nothing can be pulled on the machines
 * that build slipway, so each digest was read from public manifests that pin the same
 * `image:tag@sha256:...` in at least two independent repositories (recorded beside each pin).
 * To move a pin: read the new digest from the registry (`crane digest image:tag`) and update the
 * source note.
 */

/**
 * CNCF Distribution registry 3.1.2 (multi-arch index).
 * Source: docker.io/library/registry:3.1.2, read from AmbientWare/lazycloud
 * acceptance/platform_test.go and phoban01/battery-operator .dagger/manifests.go.
 */
export const REGISTRY_IMAGE =
  "docker.io/library/registry:3.1.2@sha256:ddf754342cfc8acc51a56d5d0ab6af06826461864460636d8bd5c546dab2a7b8";

/**
 * BuildKit v0.33.1, rootless variant (multi-arch index).
 * Source: docker.io/moby/buildkit:v0.33.1-rootless, read from AmbientWare/lazycloud
 * internal/platformimages/platformimages.go and otterdeploy/otterdeploy
 * apps/builder/src/build-sandbox.ts.
 */
export const BUILDKIT_ROOTLESS_IMAGE =
  "docker.io/moby/buildkit:v0.33.1-rootless@sha256:f8a833b2de9d68e27f0815e4a737abdfaf8a2e4c615650557df11025101557b4";

/*
 * Kaniko: the original project was archived in 2025; the maintained fork is
 * osscontainertools/kaniko (ghcr.io/osscontainertools/kaniko). No digest of it could be confirmed
 * from two independent sources here, so there is deliberately no default: a stack that chooses
 * engine "kaniko" must set slipway:buildRunner.image to a digest it has verified.
 */
