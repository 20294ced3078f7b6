/** Kubernetes naming rules and the names slipway derives for its objects. */
import { APP_NAME_LABEL, COLOR_LABEL } from "./vocabulary";

export const DNS_LABEL_MAX = 63;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const DNS_LABEL_ALLOWED = `must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most ${DNS_LABEL_MAX} characters)`;

export function isDnsLabel(text: string): boolean {
  return text.length <= DNS_LABEL_MAX && DNS_LABEL.test(text);
}

export const COLORS = ["blue", "green"] as const;
export type Color = (typeof COLORS)[number];

export function otherColor(color: Color): Color {
  return color === "blue" ? "green" : "blue";
}

/** Object names of one blue/green service. The live Service keeps the plain name. */
export function blueGreenNames(service: string) {
  return {
    live: service,
    preview: `${service}-preview`,
    deployment: (color: Color) => `${service}-${color}`,
    disruptionBudget: service,
  };
}

/** The longest service name whose derived names ("<name>-preview", "<name>-green") still fit. */
export const SERVICE_NAME_MAX = DNS_LABEL_MAX - "-preview".length;

/** Selector labels of a blue/green color. Exactly these two keys, never changed after creation. */
export function colorSelector(service: string, color: Color): Record<string, string> {
  return { [APP_NAME_LABEL]: service, [COLOR_LABEL]: color };
}
