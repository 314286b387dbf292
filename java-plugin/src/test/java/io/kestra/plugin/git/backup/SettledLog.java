package io.kestra.plugin.git.backup;

import java.util.List;
import java.util.function.Supplier;

/**
 * Kestra indexes task logs asynchronously, after the execution has ended: a log read right away
 * can miss lines (and a "no secret in the log" check would then prove nothing). This reads until
 * two reads a moment apart hold the same, non-zero number of entries, or 20 s have passed.
 */
final class SettledLog {
    private SettledLog() {
    }

    static <T> List<T> read(Supplier<List<T>> log) throws InterruptedException {
        List<T> previous = log.get();
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (System.nanoTime() < deadline) {
            Thread.sleep(400);
            List<T> current = log.get();
            if (!current.isEmpty() && current.size() == previous.size()) {
                return current;
            }
            previous = current;
        }
        return previous;
    }
}
