/** Kubernetes quantities as numbers (cpu in millicores, memory in bytes), from the vocabulary. */
import { parseCpu, parseMemory } from "../components/vocabulary";

/** A quantity of `resource` ("cpu" or "memory") as a number, or undefined when unparsable. */
export function quantity(resource: "cpu" | "memory", value: unknown): number | undefined {
  return resource === "cpu" ? parseCpu(String(value)) : parseMemory(String(value));
}
