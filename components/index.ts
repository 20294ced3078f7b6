// The slipway component library: import these from "@slipway/platform".
export * from "./blueGreenService";
export * from "./buildRunner";
export * from "./cluster";
export * from "./config";
export * from "./image";
export * from "./labels";
export * from "./mtlsCertificates";
export * from "./naming";
export * from "./podBuilding";
export * from "./pinnedImages";
export * from "./quantity";
export * from "./quota";
export * from "./registry";
export * from "./stagedNamespaces";
export * from "./tls";
