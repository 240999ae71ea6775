// Sensor readings from MQTT, averaged per sensor over 10-second windows, upserted into
// PostgreSQL: the pipeline a plant's dashboard reads from.
//
//   MQTT <prefix>/sensors/<sensor>  {"celsius": 21.5, "_timestamp": <ms>}
//     -> MQTTSource (keyed by MQTT topic)      -> Kafka topic source__<client id>
//     -> tumbling 10 s windows per sensor, final()
//     -> PostgreSQLSink, upsert on (sensor, window_start): a replay leaves one row per window
//
// Servers: scripts/mosquitto start, scripts/postgres start (user, password and database
// "streamframe"); Kafka: the embedded broker by default, or --broker.
//
//   mqtt_to_postgres --mqtt 127.0.0.1:1883 --postgres 127.0.0.1:5432
//
// It publishes a demo minute of readings for two sensors itself (--no-demo to only listen),
// runs until 3 s pass without a new reading, and prints what the table holds.
#include <libpq-fe.h>
#include <mosquitto.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <streamframe/streamframe.hpp>
#include <string>
#include <thread>

using namespace std::chrono_literals;
namespace sf = streamframe;

namespace {

std::pair<std::string, int> split(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("want host:port: " + address);
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

// A minute of readings, one per second per sensor, from a plain MQTT client (the device side),
// at QoS 1: it waits until the broker acknowledged all of them.
void publish_demo(const std::string& host, int port, const std::string& prefix) {
  mosquitto_lib_init();
  int acked = 0;
  mosquitto* m = mosquitto_new(nullptr, true, &acked);
  mosquitto_publish_callback_set(m, [](mosquitto*, void* n, int) { ++*static_cast<int*>(n); });
  if (m == nullptr || mosquitto_connect(m, host.c_str(), port, 30) != MOSQ_ERR_SUCCESS) {
    throw std::runtime_error("demo publisher: cannot connect to " + host);
  }
  int sent = 0;
  for (int i = 0; i < 60; ++i) {
    const long long ts = 1'700'000'000'000LL + i * 1000;
    for (const auto& [sensor, celsius] :
         {std::pair<std::string, std::string>{"boiler", std::to_string(80 + i % 10)},
          std::pair<std::string, std::string>{"attic", std::to_string(15 + i % 4) + ".5"}}) {
      const std::string payload =
          "{\"celsius\":" + celsius + ",\"_timestamp\":" + std::to_string(ts) + "}";
      mosquitto_publish(m, nullptr, (prefix + "/sensors/" + sensor).c_str(),
                        static_cast<int>(payload.size()), payload.data(), 1, false);
      ++sent;
    }
  }
  for (int i = 0; i < 1000 && acked < sent; ++i) mosquitto_loop(m, 10, 1);
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  if (acked < sent) throw std::runtime_error("demo publisher: readings not acknowledged");
}

// What the dashboard would read.
void print_table(const std::string& host, int port, const std::string& schema) {
  const std::string info = "host=" + host + " port=" + std::to_string(port) +
                           " dbname=streamframe user=streamframe password=streamframe";
  PGconn* c = PQconnectdb(info.c_str());
  const std::string sql =
      "SELECT count(*), string_agg(sensor || ' ' || to_char(avg_celsius, 'FM990.00'), ' ' "
      "ORDER BY sensor) FILTER (WHERE window_start = 1700000000000) FROM " +
      schema + ".sensor_windows";
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    std::printf("mqtt_to_postgres: %s windows in %s.sensor_windows: %s\n", PQgetvalue(r, 0, 0),
                schema.c_str(), PQgetvalue(r, 0, 1));
  } else {
    std::printf("mqtt_to_postgres: reading the table failed: %s", PQresultErrorMessage(r));
  }
  PQclear(r);
  PQfinish(c);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"streamframe: MQTT sensor readings -> 10 s averages -> PostgreSQL"};
  std::string broker = "embedded", mqtt, postgres, prefix = "plant", schema = "public";
  bool no_demo = false;
  cli.add_option("--broker", broker, "Kafka broker address, or \"embedded\" (default)");
  cli.add_option("--mqtt", mqtt, "MQTT broker host:port")->required();
  cli.add_option("--postgres", postgres, "PostgreSQL host:port")->required();
  cli.add_option("--prefix", prefix, "MQTT topic prefix (default plant)");
  cli.add_option("--schema", schema, "PostgreSQL schema of the table (default public)");
  cli.add_flag("--no-demo", no_demo, "do not publish the demo readings");
  CLI11_PARSE(cli, argc, argv);

  try {
    const auto [mqtt_host, mqtt_port] = split(mqtt);
    const auto [pg_host, pg_port] = split(postgres);
    sf::Application app({.broker_address = broker,
                         .consumer_group = "mqtt-to-postgres",
                         .auto_offset_reset = sf::AutoOffsetReset::earliest,
                         .commit_interval = 1s});

    sf::MQTTSourceOptions in;
    in.connection.client_id = prefix + "-mqtt-to-postgres";
    in.connection.server = mqtt_host;
    in.connection.port = mqtt_port;
    in.connection.tls_enabled = false;
    in.topic = prefix + "/sensors/+";
    auto readings = app.dataframe(std::make_shared<sf::MQTTSource>(in));

    sf::PostgreSQLSinkOptions out;
    out.host = pg_host;
    out.port = pg_port;
    out.dbname = out.user = out.password = "streamframe";
    out.schema_name = schema;
    out.table_name = "sensor_windows";
    out.primary_key_columns = {"sensor", "window_start"};
    out.upsert_on_primary_key = true;
    out.include_metadata = false;

    readings.tumbling_window(10s)
        .agg({{"avg_celsius", sf::agg::mean("celsius")}, {"readings", sf::agg::count()}})
        .final()
        .apply([](const sf::Value& w, const sf::Value& key, std::int64_t, const sf::Headers&) {
          // The MQTT topic's last level names the sensor.
          const std::string& topic = key.as_string();
          return sf::Value::object({{"sensor", topic.substr(topic.rfind('/') + 1)},
                                    {"window_start", w["start"]},
                                    {"window_end", w["end"]},
                                    {"avg_celsius", w["avg_celsius"]},
                                    {"readings", w["readings"]}});
        })
        .sink(std::make_shared<sf::PostgreSQLSink>(out));

    std::thread demo;
    if (!no_demo) {
      demo = std::thread([&, host = mqtt_host, port = mqtt_port] {
        std::this_thread::sleep_for(2s);  // the source subscribes first
        publish_demo(host, port, prefix);
      });
    }
    app.run({.timeout = 8s, .collect = false});
    if (demo.joinable()) demo.join();
    print_table(pg_host, pg_port, schema);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqtt_to_postgres: error: %s\n", e.what());
    return 1;
  }
}
