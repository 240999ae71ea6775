package streamframe.bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/** The workloads of bench/nexmark/SPEC.md as Kafka Streams DSL topologies. */
final class Workloads {
    static final Set<String> NAMES = Set.of("q0", "q1", "q2", "q5", "q7", "wordcount", "temperature");

    private static final Serde<String> KEY = Serdes.String();
    private static final Serde<JsonNode> VALUE = JsonNodeSerde.instance();
    private static final String WORD_STORE = "word-counts";

    private Workloads() {}

    static Topology build(Properties config, String workload, String input, String output) {
        // The builder gets the app's config too, or it warns about settings of a default one.
        StreamsBuilder builder = new StreamsBuilder(new TopologyConfig(new StreamsConfig(config)));
        KStream<String, JsonNode> in = builder.stream(input, Consumed.with(KEY, VALUE));
        KStream<String, JsonNode> out = switch (workload) {
            // The serdes already parse and re-serialize every event.
            case "q0" -> in;
            case "q1" -> bids(in).mapValues(Workloads::convertCurrency);
            case "q2" -> bids(in)
                    .filter((k, bid) -> bid.path("auction").asLong() % 123 == 0)
                    .mapValues(bid -> (JsonNode) object()
                            .put("auction", bid.path("auction").asLong())
                            .put("price", bid.path("price").asLong()));
            case "q5" -> windowResults("q5", bids(in)
                    .groupByKey(Grouped.with(KEY, VALUE))
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ZERO)
                            .advanceBy(Duration.ofSeconds(2)))
                    .count(Materialized.as("q5-counts")));
            case "q7" -> windowResults("q7", bids(in)
                    .mapValues(bid -> bid.path("price").asLong())
                    .groupByKey(Grouped.with(KEY, Serdes.Long()))
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ZERO))
                    .reduce(Math::max, Materialized.as("q7-max")));
            case "wordcount" -> {
                builder.addStateStore(wordStore());
                yield in.processValues(WordCount::new, WORD_STORE);
            }
            case "temperature" -> in
                    .mapValues(Workloads::addFahrenheit)
                    .filter((k, reading) -> reading.path("temperature_F").asDouble() > 150);
            default -> throw new IllegalArgumentException("unknown workload " + workload);
        };
        out.to(output, Produced.with(KEY, VALUE));
        return builder.build();
    }

    private static KStream<String, JsonNode> bids(KStream<String, JsonNode> events) {
        return events.filter((k, event) -> "bid".equals(event.path("type").asText()));
    }

    // Mutating in place is safe: each record has a single downstream path in these topologies.
    private static JsonNode convertCurrency(JsonNode bid) {
        ((ObjectNode) bid).put("price", bid.path("price").asLong() * 0.908);
        return bid;
    }

    private static JsonNode addFahrenheit(JsonNode reading) {
        double celsius = reading.path("temperature").asDouble();
        ((ObjectNode) reading).put("temperature_F", celsius * 9 / 5 + 32);
        return reading;
    }

    /**
     * Final results only: suppress holds every window until the task's stream time passes its end
     * (grace 0), then the windowed key becomes the plain key again as the other systems emit it.
     */
    private static KStream<String, JsonNode> windowResults(String name, KTable<Windowed<String>, Long> windows) {
        return windows
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded())
                        .withName(name + "-final"))
                .toStream()
                .map((window, value) -> KeyValue.pair(window.key(), (JsonNode) object()
                        .put("start", window.window().start())
                        .put("end", window.window().end())
                        .put("value", value)));
    }

    private static ObjectNode object() {
        return JsonNodeSerde.MAPPER.createObjectNode();
    }

    // Cached like the DSL's own stores: the changelog gets each key's latest count per commit,
    // as streamframe's and Quix's stores write theirs, rather than one record per word.
    private static StoreBuilder<KeyValueStore<String, Long>> wordStore() {
        return Stores.keyValueStoreBuilder(
                        Stores.persistentKeyValueStore(WORD_STORE), Serdes.String(), Serdes.Long())
                .withCachingEnabled();
    }

    /**
     * Running count per (record key, word). The store key embeds the record key, so the state is
     * scoped to it without a repartition (the input is already partitioned by key).
     */
    private static final class WordCount implements FixedKeyProcessor<String, JsonNode, JsonNode> {
        private FixedKeyProcessorContext<String, JsonNode> context;
        private KeyValueStore<String, Long> counts;

        @Override
        public void init(FixedKeyProcessorContext<String, JsonNode> context) {
            this.context = context;
            this.counts = context.getStateStore(WORD_STORE);
        }

        @Override
        public void process(FixedKeyRecord<String, JsonNode> record) {
            String text = record.value().path("text").asText();
            // limit -1 keeps empty tokens, like a plain split on " " in the other systems.
            for (String word : text.split(" ", -1)) {
                String storeKey = record.key() + "\u0000" + word;
                Long previous = counts.get(storeKey);
                long count = previous == null ? 1 : previous + 1;
                counts.put(storeKey, count);
                context.forward(record.withValue(object().put("word", word).put("count", count)));
            }
        }
    }
}
