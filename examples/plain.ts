// A file that knows nothing about flow-sdk. examples/invoke.ts runs `train` from it remotely.
export async function train(epochs: number): Promise<{ epochs: number; loss: number; pid: number }> {
  let loss = 1;
  for (let epoch = 0; epoch < epochs; epoch++) loss *= 0.5;
  console.log(`trained ${epochs} epochs`);
  return { epochs, loss, pid: process.pid };
}
