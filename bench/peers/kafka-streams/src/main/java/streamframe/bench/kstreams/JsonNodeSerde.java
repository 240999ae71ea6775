package streamframe.bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** Record values as Jackson trees: every workload parses its input and writes JSON again. */
public final class JsonNodeSerde extends Serdes.WrapperSerde<JsonNode> {
    // ObjectMapper is thread-safe once configured; one for all stream threads.
    static final ObjectMapper MAPPER = new ObjectMapper();

    public JsonNodeSerde() {
        super(new JsonSerializer(), new JsonDeserializer());
    }

    public static Serde<JsonNode> instance() {
        return new JsonNodeSerde();
    }

    private static final class JsonSerializer implements Serializer<JsonNode> {
        @Override
        public byte[] serialize(String topic, JsonNode data) {
            if (data == null) return null;
            try {
                return MAPPER.writeValueAsBytes(data);
            } catch (IOException e) {
                throw new SerializationException("cannot write JSON for topic " + topic, e);
            }
        }
    }

    private static final class JsonDeserializer implements Deserializer<JsonNode> {
        @Override
        public JsonNode deserialize(String topic, byte[] data) {
            if (data == null) return null;
            try {
                return MAPPER.readTree(data);
            } catch (IOException e) {
                throw new SerializationException("invalid JSON in topic " + topic, e);
            }
        }
    }
}
