package streamframe.bench.kstreams;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;

/**
 * Kafka Streams peer of the Nexmark benchmark suite: runs one workload of bench/nexmark/SPEC.md
 * until SIGTERM or SIGINT. Nothing is written to stdout; logs go to stderr at WARN.
 */
public final class NexmarkKStreams {
    private static final String NAME = "nexmark-kstreams";
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
    private static final List<String> REQUIRED = List.of("brokers", "workload", "input", "output", "group");
    private static final List<String> OPTIONAL = List.of("guarantee", "state-dir", "commit-interval-ms");
    private static final String USAGE = "usage: " + NAME + " --brokers HOST:PORT --workload "
            + "q0|q1|q2|q5|q5-like|q7|q7-like|wordcount|temperature --input TOPIC --output TOPIC --group ID\n"
            + "       [--guarantee alo|eos] [--state-dir DIR] [--commit-interval-ms MS]";

    private NexmarkKStreams() {}

    public static void main(String[] args) {
        Map<String, String> options;
        try {
            options = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(NAME + ": " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }

        Properties config = config(options);
        KafkaStreams streams = new KafkaStreams(
                Workloads.build(config, options.get("workload"), options.get("input"), options.get("output")),
                config);

        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch failed = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, e);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((newState, oldState) -> {
            if (newState == KafkaStreams.State.ERROR) failed.countDown();
        });

        // A JVM ended by a signal exits 143/130 even after clean hooks; the suite wants 0 after a
        // clean close, so the hook halts with the code itself.
        AtomicInteger exitCode = new AtomicInteger(0);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            int code = exitCode.get();
            if (!streams.close(CLOSE_TIMEOUT)) {
                System.err.println(NAME + ": Kafka Streams did not close within " + CLOSE_TIMEOUT);
                code = code == 0 ? 1 : code;
            }
            Runtime.getRuntime().halt(code);
        }, NAME + "-shutdown"));

        try {
            streams.start();
            failed.await();
        } catch (Exception e) {
            failure.compareAndSet(null, e);
        }
        Throwable error = failure.get();
        System.err.println(NAME + ": Kafka Streams failed (state " + streams.state() + ")"
                + (error == null ? "" : ": " + error));
        if (error != null) error.printStackTrace();
        // The shutdown hook closes the client: close() must not run on the handler's or listener's
        // threads, which it waits for.
        exitCode.set(1);
        System.exit(1);
    }

    private static Properties config(Map<String, String> options) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, options.get("group"));
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, options.get("brokers"));
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                options.getOrDefault("guarantee", "alo").equals("eos")
                        ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // The benchmark broker may be a single node; internal topics must fit on it.
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        // No global tables here; set only to quiet Kafka Streams' warning about it at start-up
        // (its partition assignor, with a config of its own, still logs it once).
        props.put("processing.exception.handler.global.enabled", true);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, JsonNodeSerde.class);
        if (options.containsKey("state-dir")) {
            props.put(StreamsConfig.STATE_DIR_CONFIG, options.get("state-dir"));
        }
        if (options.containsKey("commit-interval-ms")) {
            props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(options.get("commit-interval-ms")));
        }
        return props;
    }

    /** `--name value` pairs; anything unknown, repeated or malformed is an IllegalArgumentException. */
    static Map<String, String> parse(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String name = arg.startsWith("--") ? arg.substring(2) : null;
            if (name == null || !(REQUIRED.contains(name) || OPTIONAL.contains(name))) {
                throw new IllegalArgumentException("unknown option: " + arg);
            }
            if (i + 1 >= args.length) throw new IllegalArgumentException("missing value for " + arg);
            if (options.put(name, args[++i]) != null) throw new IllegalArgumentException("repeated option: " + arg);
        }
        for (String name : REQUIRED) {
            if (!options.containsKey(name) || options.get(name).isEmpty()) {
                throw new IllegalArgumentException("missing --" + name);
            }
        }
        if (!Workloads.NAMES.contains(options.get("workload"))) {
            throw new IllegalArgumentException("unknown workload: " + options.get("workload"));
        }
        String guarantee = options.getOrDefault("guarantee", "alo");
        if (!guarantee.equals("alo") && !guarantee.equals("eos")) {
            throw new IllegalArgumentException("--guarantee must be alo or eos, not " + guarantee);
        }
        String commit = options.get("commit-interval-ms");
        if (commit != null && !commit.matches("[0-9]{1,18}")) {
            throw new IllegalArgumentException("--commit-interval-ms must be a non-negative integer, not " + commit);
        }
        return options;
    }
}
