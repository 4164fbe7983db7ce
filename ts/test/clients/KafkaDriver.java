/*
 * Scripted Apache Kafka Java client for FerryMQ's client matrix tests: one
 * JVM runs every step of a JSON spec (argv[0]), so the tests pay the JVM
 * start-up once. Run as a single-file source program over the jars that
 * scripts/kafka-jars.sh fetches:
 *
 *   java -cp "<libs>/*" ts/test/clients/KafkaDriver.java '<spec>'
 *
 * Spec: {"bootstrap": "host:port", "steps": [{"op": ...}, ...]}
 * Ops:
 *   versions {}
 *   produce  {topic, compression, messages: [{key, value, headers, partition?}],
 *             idempotence? (the client's default, on, unless given)}
 *   consume  {topic, count, group?, commit?, timeoutMs?, idleMs?}
 *            without group: every partition assigned from the beginning;
 *            with group: subscribe, read `count`, commitSync if `commit`, close.
 * Prints one JSON line: {"results": [...], "error": null | "..."}.
 */

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

public class KafkaDriver {
  static final ObjectMapper JSON = new ObjectMapper();

  static byte[] bytes(JsonNode n) {
    return n == null || n.isNull() ? null : n.asText().getBytes(StandardCharsets.UTF_8);
  }

  static String text(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  static JsonNode versions(String bootstrap, JsonNode step) {
    ObjectNode out = JSON.createObjectNode();
    out.put("kafka_clients", AppInfoParser.getVersion());
    out.put("java", System.getProperty("java.version"));
    return out;
  }

  static JsonNode produce(String bootstrap, JsonNode step) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, step.path("compression").asText("none"));
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    // Left at the client's default (on since 3.0, KIP-679) unless the spec says otherwise.
    if (step.has("idempotence")) {
      p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, String.valueOf(step.get("idempotence").asBoolean()));
    }
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000");
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    ArrayNode delivered = JSON.createArrayNode();
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      for (JsonNode m : step.get("messages")) {
        Integer partition = m.has("partition") ? m.get("partition").asInt() : null;
        ProducerRecord<byte[], byte[]> rec =
            new ProducerRecord<>(step.get("topic").asText(), partition, bytes(m.get("key")), bytes(m.get("value")));
        for (Map.Entry<String, JsonNode> h : m.path("headers").properties()) {
          rec.headers().add(h.getKey(), bytes(h.getValue()));
        }
        sent.add(producer.send(rec));
      }
      producer.flush();
      for (Future<RecordMetadata> f : sent) {
        RecordMetadata md = f.get();
        delivered.add(JSON.createArrayNode().add(md.partition()).add(md.offset()));
      }
    }
    ObjectNode out = JSON.createObjectNode();
    out.set("delivered", delivered);
    return out;
  }

  static JsonNode consume(String bootstrap, JsonNode step) {
    String topic = step.get("topic").asText();
    String group = step.hasNonNull("group") ? step.get("group").asText() : null;
    int count = step.get("count").asInt();
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    if (group != null) {
      p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
      p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
      p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
    }
    ArrayNode messages = JSON.createArrayNode();
    ObjectNode committed = null;
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      if (group != null) {
        c.subscribe(List.of(topic));
      } else {
        List<TopicPartition> tps = new ArrayList<>();
        for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(10))) {
          tps.add(new TopicPartition(topic, pi.partition()));
        }
        c.assign(tps);
        c.seekToBeginning(tps);
      }
      // What was handed to the caller, per partition: the offsets a commit covers (a poll may return more).
      Map<TopicPartition, OffsetAndMetadata> consumed = new java.util.HashMap<>();
      long deadline = System.currentTimeMillis() + step.path("timeoutMs").asLong(20000);
      // With idleMs, the read also ends once records came and then none for idleMs.
      long idleMs = step.path("idleMs").asLong(-1);
      long lastRecordAt = System.currentTimeMillis();
      while (messages.size() < count && System.currentTimeMillis() < deadline) {
        if (idleMs >= 0 && messages.size() > 0 && System.currentTimeMillis() - lastRecordAt >= idleMs) break;
        ConsumerRecords<byte[], byte[]> polled = c.poll(Duration.ofMillis(500));
        if (!polled.isEmpty()) lastRecordAt = System.currentTimeMillis();
        for (ConsumerRecord<byte[], byte[]> r : polled) {
          if (messages.size() >= count) break;
          consumed.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
          ObjectNode m = JSON.createObjectNode();
          m.put("partition", r.partition());
          m.put("offset", r.offset());
          m.put("key", text(r.key()));
          m.put("value", text(r.value()));
          ArrayNode hs = JSON.createArrayNode();
          for (Header h : r.headers()) {
            hs.add(JSON.createArrayNode().add(h.key()).add(text(h.value())));
          }
          m.set("headers", hs);
          messages.add(m);
        }
      }
      if (group != null) {
        if (step.path("commit").asBoolean(false)) c.commitSync(consumed);
        TreeSet<Integer> parts = new TreeSet<>();
        for (JsonNode m : messages) parts.add(m.get("partition").asInt());
        java.util.Set<TopicPartition> tps = new java.util.HashSet<>();
        for (int part : parts) tps.add(new TopicPartition(topic, part));
        committed = JSON.createObjectNode();
        if (!tps.isEmpty()) {
          for (Map.Entry<TopicPartition, OffsetAndMetadata> e : c.committed(tps).entrySet()) {
            committed.put(String.valueOf(e.getKey().partition()), e.getValue() == null ? -1 : e.getValue().offset());
          }
        }
      }
    }
    ObjectNode out = JSON.createObjectNode();
    out.set("messages", messages);
    out.set("committed", committed);
    return out;
  }

  public static void main(String[] args) throws Exception {
    JsonNode spec = JSON.readTree(args[0]);
    String bootstrap = spec.get("bootstrap").asText();
    ArrayNode results = JSON.createArrayNode();
    ObjectNode out = JSON.createObjectNode();
    out.set("results", results);
    out.putNull("error");
    try {
      for (JsonNode step : spec.get("steps")) {
        String op = step.get("op").asText();
        switch (op) {
          case "versions" -> results.add(versions(bootstrap, step));
          case "produce" -> results.add(produce(bootstrap, step));
          case "consume" -> results.add(consume(bootstrap, step));
          default -> throw new IllegalArgumentException("no op " + op);
        }
      }
    } catch (Exception e) {
      StringWriter sw = new StringWriter();
      e.printStackTrace(new PrintWriter(sw));
      String trace = sw.toString();
      out.put("error", trace.length() > 4000 ? trace.substring(0, 4000) : trace);
    }
    System.out.println(JSON.writeValueAsString(out));
    System.out.flush();
    // Client threads must not keep the JVM alive after a failure.
    System.exit(0);
  }
}
