/**
 * `@enter()` and `@exit()`: lifecycle hooks of warm classes.
 *
 *   export class Model {
 *     @enter() async load() { this.weights = await loadWeights(); }   // once per warm instance
 *     @app.function({ gpu: "a100" }) async predict(x: Float32Array) { ... }
 *     @exit() async unload() { ... }                                   // when the agent stops
 *   }
 *
 * The agent creates one instance per class and constructor arguments (`app.cls(Model, { args })`),
 * runs its enter hooks before the first call reaches it, and its exit hooks on shutdown.
 */
import { FlowError } from "../errors.ts";
import { registry } from "./registry.ts";

export type LifecyclePhase = "enter" | "exit";

/** The decorator both forms of decorators accept: (method, context) or (target, key, descriptor). */
export type LifecycleDecorator = (value: unknown, context: unknown, descriptor?: PropertyDescriptor) => void;

function lifecycle(phase: LifecyclePhase): LifecycleDecorator {
  return (value, context, descriptor) => {
    const method = descriptor ? descriptor.value : value;
    const isStatic = descriptor ? typeof value === "function" : (context as { static?: boolean }).static === true;
    if (typeof method !== "function" || isStatic) {
      throw new FlowError(`@${phase}() decorates instance methods of a class.`);
    }
    registry().lifecycle.set(method as object, phase);
  };
}

/** Runs once per warm instance, before its first call (load weights here). */
export function enter(): LifecycleDecorator {
  return lifecycle("enter");
}

/** Runs when the agent shuts down, for every warm instance it created. */
export function exit(): LifecycleDecorator {
  return lifecycle("exit");
}

/** The instance's hooks for `phase`, base classes first. */
export function lifecycleMethods(instance: object, phase: LifecyclePhase): (() => unknown)[] {
  const chain: object[] = [];
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    chain.unshift(proto as object);
  }
  const { lifecycle: marks } = registry();
  const hooks: (() => unknown)[] = [];
  for (const proto of chain) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const value = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
      if (typeof value === "function" && marks.get(value) === phase) hooks.push(value as () => unknown);
    }
  }
  return hooks;
}
