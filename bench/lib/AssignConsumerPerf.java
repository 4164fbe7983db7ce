// Consume throughput without a consumer group, for brokers that serve no
// group APIs yet: Kafka's Java consumer in assign mode (partition 0 from the
// earliest offset), configured as org.apache.kafka.tools.ConsumerPerformance
// configures its consumer (byte-array deserializers, 1 MiB
// max.partition.fetch.bytes, 2 MiB receive buffer, check.crcs=false), and
// counted the same way (key + value bytes). bench/kafka.bench.ts runs it with
// Java's source launcher against both brokers, so both get the same client:
//
//   java -cp "<kafka libs>/*" bench/lib/AssignConsumerPerf.java <bootstrap> <topic> <records> [timeout ms]
//
// Prints "records=<n> bytes=<n> elapsed_ms=<n>" (from the first poll to the
// last record counted), then the consumer's fetch metrics on a second line. Exits 2 if fewer records arrive before the
// timeout (default 60 s) without a record.

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class AssignConsumerPerf {
  public static void main(String[] args) {
    if (args.length < 3) {
      System.err.println("usage: AssignConsumerPerf <bootstrap> <topic> <records> [timeout ms]");
      System.exit(1);
    }
    String bootstrap = args[0];
    String topic = args[1];
    long want = Long.parseLong(args[2]);
    long timeoutMs = args.length > 3 ? Long.parseLong(args[3]) : 60_000;

    Properties props = new Properties();
    props.put("bootstrap.servers", bootstrap);
    props.put("key.deserializer", ByteArrayDeserializer.class.getName());
    props.put("value.deserializer", ByteArrayDeserializer.class.getName());
    props.put("max.partition.fetch.bytes", String.valueOf(1024 * 1024));
    props.put("receive.buffer.bytes", String.valueOf(2 * 1024 * 1024));
    props.put("check.crcs", "false");
    props.put("auto.offset.reset", "earliest");
    props.put("enable.auto.commit", "false");
    props.put("client.id", "ferrymq-bench-assign-consumer");

    long records = 0;
    long bytes = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      TopicPartition tp = new TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long start = System.currentTimeMillis();
      long last = start;
      long lastRecordAt = start;
      while (records < want) {
        ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(100));
        long now = System.currentTimeMillis();
        if (batch.isEmpty()) {
          if (now - lastRecordAt > timeoutMs) {
            System.out.printf("records=%d bytes=%d elapsed_ms=%d%n", records, bytes, last - start);
            System.err.printf("timed out after %d ms without a record (%d of %d)%n", timeoutMs, records, want);
            System.exit(2);
          }
          continue;
        }
        for (ConsumerRecord<byte[], byte[]> r : batch) {
          records++;
          if (r.key() != null) bytes += r.key().length;
          if (r.value() != null) bytes += r.value().length;
        }
        last = now;
        lastRecordAt = now;
      }
      System.out.printf("records=%d bytes=%d elapsed_ms=%d%n", records, bytes, last - start);
      printFetchMetrics(consumer);
    }
  }

  /** The consumer's own view of the fetches: why two brokers' figures differ. */
  private static void printFetchMetrics(KafkaConsumer<byte[], byte[]> consumer) {
    StringBuilder line = new StringBuilder("fetch-metrics");
    for (String name : List.of("fetch-size-avg", "records-per-request-avg", "fetch-latency-avg", "fetch-rate")) {
      for (Map.Entry<MetricName, ? extends Metric> e : consumer.metrics().entrySet()) {
        MetricName m = e.getKey();
        if (m.group().equals("consumer-fetch-manager-metrics") && m.name().equals(name) && m.tags().size() == 1) {
          line.append(' ').append(name).append('=').append(e.getValue().metricValue());
        }
      }
    }
    System.out.println(line);
  }
}
