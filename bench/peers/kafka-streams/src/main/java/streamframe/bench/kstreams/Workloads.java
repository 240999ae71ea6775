package streamframe.bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.LongUnaryOperator;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyConfig;
import org.apache.kafka.streams.kstream.Aggregator;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.ProcessorSupplier;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/** The workloads of bench/nexmark/SPEC.md as Kafka Streams DSL topologies. */
final class Workloads {
    static final Set<String> NAMES =
            Set.of("q0", "q1", "q2", "q3", "q5", "q5-like", "q7", "q7-like", "q8", "wordcount",
                    "temperature");

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
            case "q5-like" -> windowResults("q5-like", hoppingCounts(in));
            case "q7-like" -> windowResults("q7-like", tumblingMax(in));
            // Hot items: re-keyed by window, the auction(s) with the most bids in it.
            case "q5" -> byWindow("q5", windowResults("q5", hoppingCounts(in)), Workloads::hottest);
            // Highest bid: re-keyed by window, the top price over all auctions.
            case "q7" -> byWindow("q7", windowResults("q7", tumblingMax(in)), Workloads::highest);
            // Local item suggestion: category-10 auctions with their seller from OR, ID or CA.
            case "q3" -> q3(in);
            // New users: persons with the auctions they open in the same 10 s window.
            case "q8" -> q8(in);
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

    private static KTable<Windowed<String>, Long> hoppingCounts(KStream<String, JsonNode> in) {
        return bids(in)
                .groupByKey(Grouped.with(KEY, VALUE))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ZERO)
                        .advanceBy(Duration.ofSeconds(2)))
                .count(Materialized.as("counts"));
    }

    private static KTable<Windowed<String>, Long> tumblingMax(KStream<String, JsonNode> in) {
        return bids(in)
                .mapValues(bid -> bid.path("price").asLong())
                .groupByKey(Grouped.with(KEY, Serdes.Long()))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ZERO))
                .reduce(Math::max, Materialized.as("max"));
    }

    /**
     * The second stage of q5 and q7: the window results re-keyed by window start (a repartition
     * topic), then one running aggregate per window, emitted after every record. Caching is off
     * so that every record gives one update, as in the other systems; the driver compares each
     * key's last update.
     */
    private static KStream<String, JsonNode> byWindow(
            String name, KStream<String, JsonNode> results, Aggregator<String, JsonNode, JsonNode> step) {
        return results
                .map((auction, r) -> KeyValue.pair(
                        String.valueOf(r.path("start").asLong()),
                        (JsonNode) ((ObjectNode) r.deepCopy()).put("auction", Long.parseLong(auction))))
                .groupByKey(Grouped.with(name + "-window", KEY, VALUE))
                .aggregate(() -> (JsonNode) object(), step,
                        Materialized.<String, JsonNode, KeyValueStore<Bytes, byte[]>>as(name + "-by-window")
                                .withKeySerde(KEY)
                                .withValueSerde(VALUE)
                                .withCachingDisabled())
                .toStream();
    }

    private static final Set<String> LOCAL_STATES = Set.of("OR", "ID", "CA");
    // How long the joins keep records behind the stream time (JoinWindows' grace): a record
    // older than that when it arrives is dropped as late. Longer than the inputs span (2.5 M
    // events are 42 minutes of event time), so that, as in the other systems, no record is
    // dropped: with 5 minutes, q8 on 2.5 M events dropped 39,868 records ("Skipping record for
    // expired segment") and made 20,174 of 116,671 pairs, the two repartitioned sides reaching
    // the join more than 5 minutes of event time apart (SPEC.md, "Joins").
    private static final Duration JOIN_GRACE = Duration.ofDays(1);

    private static boolean isType(JsonNode event, String type) {
        return type.equals(event.path("type").asText());
    }

    private static long windowStart(long ms) {
        return ms - ms % 10_000;
    }

    /**
     * Re-keyed by {@code field} (as text) and re-stamped by {@code time}, through the repartition
     * topic {@code name}.
     */
    private static KStream<String, JsonNode> rekeyed(
            KStream<String, JsonNode> events, String field, LongUnaryOperator time, String name) {
        ProcessorSupplier<String, JsonNode, String, JsonNode> restamp = () -> new ContextualProcessor<>() {
            @Override
            public void process(Record<String, JsonNode> r) {
                context().forward(r.withKey(String.valueOf(r.value().path(field).asLong()))
                        .withTimestamp(time.applyAsLong(r.timestamp())));
            }
        };
        return events.process(restamp, Named.as(name + "-rekey"))
                .repartition(Repartitioned.<String, JsonNode>as(name).withKeySerde(KEY).withValueSerde(VALUE));
    }

    private static JoinWindows sameTime() {
        return JoinWindows.ofTimeDifferenceAndGrace(Duration.ZERO, JOIN_GRACE);
    }

    /**
     * q3: a regular (unwindowed) join. Both sides re-keyed by the person's id and stamped with
     * one time (1 ms, as the other systems, whose librdkafka producer reads 0 as "now"), so a
     * windowed join of width 0 pairs every auction with its seller whichever
     * arrives first.
     */
    private static KStream<String, JsonNode> q3(KStream<String, JsonNode> in) {
        KStream<String, JsonNode> persons = rekeyed(
                in.filter((k, e) -> isType(e, "person") && LOCAL_STATES.contains(e.path("state").asText()))
                        .mapValues(p -> (JsonNode) object()
                                .put("id", p.path("id").asLong())
                                .put("name", p.path("name").asText())
                                .put("city", p.path("city").asText())
                                .put("state", p.path("state").asText())),
                "id", ts -> 1, "q3-person");
        KStream<String, JsonNode> auctions = rekeyed(
                in.filter((k, e) -> isType(e, "auction") && e.path("category").asLong() == 10)
                        .mapValues(a -> (JsonNode) object()
                                .put("id", a.path("id").asLong())
                                .put("seller", a.path("seller").asLong())),
                "seller", ts -> 1, "q3-seller");
        return persons.join(auctions,
                (person, auction) -> (JsonNode) object()
                        .put("name", person.path("name").asText())
                        .put("city", person.path("city").asText())
                        .put("state", person.path("state").asText())
                        .put("id", auction.path("id").asLong()),
                sameTime(),
                StreamJoined.with(KEY, VALUE, VALUE).withName("q3").withStoreName("q3"));
    }

    /**
     * q8: persons with the auctions they open in the same 10 s tumbling window. Both sides
     * re-keyed by the person's id and stamped with their window's start, so a windowed join of
     * width 0 pairs exactly the records of one window, whichever arrives first.
     */
    private static KStream<String, JsonNode> q8(KStream<String, JsonNode> in) {
        KStream<String, JsonNode> persons = rekeyed(
                in.filter((k, e) -> isType(e, "person"))
                        .mapValues(p -> (JsonNode) object()
                                .put("id", p.path("id").asLong())
                                .put("name", p.path("name").asText())),
                "id", Workloads::windowStart, "q8-person");
        KStream<String, JsonNode> auctions = rekeyed(
                in.filter((k, e) -> isType(e, "auction"))
                        .mapValues(a -> (JsonNode) object()
                                .put("auction", a.path("id").asLong())
                                .put("seller", a.path("seller").asLong())),
                "seller", Workloads::windowStart, "q8-seller");
        return persons
                .join(auctions,
                        (person, auction) -> (JsonNode) object()
                                .put("id", person.path("id").asLong())
                                .put("name", person.path("name").asText())
                                .put("auction", auction.path("auction").asLong()),
                        sameTime(),
                        StreamJoined.with(KEY, VALUE, VALUE).withName("q8").withStoreName("q8"))
                .processValues(WithStart::new, Named.as("q8-start"));
    }

    /** The pair's timestamp (its window's start, as both sides were stamped) as "start". */
    private static final class WithStart implements FixedKeyProcessor<String, JsonNode, JsonNode> {
        private FixedKeyProcessorContext<String, JsonNode> context;

        @Override
        public void init(FixedKeyProcessorContext<String, JsonNode> context) {
            this.context = context;
        }

        @Override
        public void process(FixedKeyRecord<String, JsonNode> record) {
            ((ObjectNode) record.value()).put("start", record.timestamp());
            context.forward(record);
        }
    }

    private static JsonNode hottest(String window, JsonNode c, JsonNode best) {
        long count = c.path("value").asLong();
        long auction = c.path("auction").asLong();
        if (!best.has("count") || count > best.path("count").asLong()) {
            ObjectNode next = object().put("start", c.path("start").asLong()).put("end", c.path("end").asLong());
            next.putArray("auctions").add(auction);
            return next.put("count", count);
        }
        if (count == best.path("count").asLong()) {
            TreeSet<Long> auctions = new TreeSet<>();
            best.path("auctions").forEach(a -> auctions.add(a.asLong()));
            if (auctions.add(auction)) {
                ObjectNode next = (ObjectNode) best.deepCopy();
                ArrayNode list = next.putArray("auctions");
                auctions.forEach(list::add);
                return next;
            }
        }
        return best;
    }

    // A tie goes to the smaller auction id.
    private static JsonNode highest(String window, JsonNode m, JsonNode top) {
        long price = m.path("value").asLong();
        long auction = m.path("auction").asLong();
        if (top.has("price")) {
            long best = top.path("price").asLong();
            if (price < best || (price == best && auction >= top.path("auction").asLong())) {
                return top;
            }
        }
        return object()
                .put("start", m.path("start").asLong())
                .put("end", m.path("end").asLong())
                .put("price", price)
                .put("auction", auction);
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
