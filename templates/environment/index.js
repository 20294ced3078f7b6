// A new slipway stage on an existing cluster (the kubeconfig of $KUBECONFIG or ~/.kube/config).
// Everything here comes from @slipway/platform: the config validators (the same messages as the
// platform's stack files) and the StagedNamespaces component.
"use strict";
const { StagedNamespaces, loadTemplateConfig } = require("@slipway/platform");

const config = loadTemplateConfig(["stage", "team", "cpu", "memory", "pods"]);

const stages = new StagedNamespaces("stages", {
  stages: [
    {
      name: config.stage,
      team: config.team,
      // Requests and limits share one budget: a service from templates/service sets them equal.
      quota: {
        requestsCpu: config.cpu,
        requestsMemory: config.memory,
        limitsCpu: config.cpu,
        limitsMemory: config.memory,
        pods: config.pods,
      },
      // What containers that set no resources get, and the most one container may have.
      limits: {
        defaultRequest: { cpu: "50m", memory: "64Mi" },
        default: { cpu: "250m", memory: "256Mi" },
        max: { cpu: "1", memory: "1Gi" },
      },
    },
  ],
});

exports.namespaces = stages.namespaces;
