// A mutex keeps read-modify-write sequences from interleaving.
import { Mutex } from 'sluice';

const mutex = new Mutex();
let balance = 100;

async function withdraw(amount: number) {
  return mutex.run(async () => {
    const current = balance; // read
    await new Promise((resolve) => setTimeout(resolve, 1)); // e.g. a database round trip
    if (current < amount) return false;
    balance = current - amount; // write
    return true;
  });
}

const outcomes = await Promise.all([withdraw(60), withdraw(60), withdraw(30)]);
console.log(`outcomes ${JSON.stringify(outcomes)}, balance ${balance}`);
