// The slipway component library, `@slipway/platform`: the components with their schemas and
// Args, the configuration loaders, and the documented helpers (names, image references, the
// vocabulary). Everything else under components/ is internal to them.
export * from "./admissionPolicies";
export * from "./blueGreenService";
export * from "./buildRunner";
export * from "./cluster";
export * from "./registry";
export * from "./releasePromotion";
export * from "./spread";
export * from "./stagedNamespaces";

export * from "./config";
export * from "./templateConfig";
export {
  componentErrorsAsRunErrors,
  ComponentPropertyError,
  ComponentPropertiesError,
} from "./problems";
export type { PromotionRecord } from "./imagePromotion";
export type { RegistryCredentials } from "./oci/distribution";

export * from "./naming";
export * from "./oci/reference";
export * from "./pinnedImages";
export * from "./vocabulary";
