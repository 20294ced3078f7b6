// A blue/green service on slipway. Everything here comes from @slipway/platform: the config
// validators (the same messages as the platform's stack files) and the BlueGreenService component.
// A release changes slipway:image and flips the active color through `slipway release`/`promote`.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { BlueGreenService, loadTemplateConfig } = require("@slipway/platform");

const config = loadTemplateConfig(
  ["name", "stage", "port", "image", "cpu", "memory", "replicas"],
  ["revision", "created"],
);
const perPod = { cpu: config.cpu, memory: config.memory };
const firstColor = {
  image: config.image,
  replicas: config.replicas,
  revision: config.revision,
  created: config.created,
};

const service = new BlueGreenService(config.name, {
  namespace: config.stage,
  port: config.port,
  activeColor: "blue",
  blue: firstColor,
  // The idle color starts empty; a release gives it the next digest at full size.
  green: { ...firstColor, replicas: 0 },
  resources: { requests: perPod, limits: perPod },
});

exports.liveService = service.liveServiceName;
exports.previewService = service.previewServiceName;
exports.activeColor = service.activeColor;
exports.images = service.images;
exports.stage = pulumi.output(config.stage);
